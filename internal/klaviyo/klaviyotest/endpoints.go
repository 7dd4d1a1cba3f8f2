package klaviyotest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/snippetd/snippetd/shop"
)

// call is one request being answered.
type call struct {
	r    *http.Request
	body []byte
	doc  any
	idx  int
	st   *Stats
	rev  string
	id   string // path id (catalog item or job)
}

type route struct {
	client   bool
	limitKey string
	schema   string
	id       string
	handle   func(*Server, *call) reply
}

// route matches a request to an endpoint.
func (s *Server) route(r *http.Request) (route, bool) {
	p := strings.TrimSuffix(r.URL.Path, "/")
	m := r.Method
	switch {
	case m == "POST" && p == PathEvents:
		return route{limitKey: PathEvents, schema: SliceEvent, handle: (*Server).handleEvent}, true
	case m == "POST" && p == PathBulkEvents:
		return route{limitKey: PathBulkEvents, schema: SliceBulkEvents, handle: (*Server).handleBulk}, true
	case m == "POST" && p == PathClientEvents:
		return route{client: true, limitKey: PathClientEvents, schema: SliceClientEvent, handle: (*Server).handleEvent}, true
	case m == "POST" && p == PathClientBulkEvents:
		return route{client: true, limitKey: PathClientBulkEvents, schema: SliceClientBulkEvents, handle: (*Server).handleClientBulk}, true
	case m == "POST" && p == PathClientProfiles:
		return route{client: true, limitKey: PathClientProfiles, schema: SliceClientProfile, handle: (*Server).handleClientProfile}, true
	case m == "POST" && p == PathCatalogItems:
		return route{limitKey: PathCatalogItems, schema: SliceCatalogItem, handle: (*Server).handleCatalogCreate}, true
	case m == "GET" && p == PathCatalogItems:
		return route{limitKey: PathCatalogItems, handle: (*Server).handleCatalogList}, true
	case strings.HasPrefix(p, PathCatalogItems+"/") && (m == "GET" || m == "PATCH" || m == "DELETE"):
		id, _ := url.PathUnescape(strings.TrimPrefix(p, PathCatalogItems+"/"))
		rt := route{limitKey: PathCatalogItems, id: id, handle: (*Server).handleCatalogItem}
		if m == "PATCH" {
			rt.schema = SliceCatalogItemUpdate
		}
		return rt, true
	case m == "POST" && p == PathCatalogBulkCreate:
		return route{limitKey: PathCatalogBulkCreate, schema: SliceCatalogBulkCreate, handle: (*Server).handleCatalogBulkCreate}, true
	case m == "POST" && p == PathCatalogBulkUpdate:
		return route{limitKey: PathCatalogBulkUpdate, schema: SliceCatalogBulkUpdate, handle: (*Server).handleCatalogBulkUpdate}, true
	case m == "POST" && p == PathCatalogBulkDelete:
		return route{limitKey: PathCatalogBulkDelete, schema: SliceCatalogBulkDelete, handle: (*Server).handleCatalogBulkDelete}, true
	case m == "POST" && p == PathCatalogVariantBulkCreate:
		return route{limitKey: p, schema: SliceCatalogVariantBulkCreate, handle: (*Server).handleVariantBulkCreate}, true
	case m == "POST" && p == PathCatalogVariantBulkUpdate:
		return route{limitKey: p, schema: SliceCatalogVariantBulkUpdate, handle: (*Server).handleVariantBulkUpdate}, true
	case m == "POST" && p == PathCatalogVariantBulkDelete:
		return route{limitKey: p, schema: SliceCatalogVariantBulkDelete, handle: (*Server).handleVariantBulkDelete}, true
	case m == "POST" && p == PathClientBackInStock:
		return route{client: true, limitKey: p, schema: SliceClientBackInStock, handle: (*Server).handleClientBackInStock}, true
	}
	if rt, ok := s.consentRoute(m, p); ok {
		return rt, true
	}
	for _, jp := range []string{PathCatalogBulkCreate, PathCatalogBulkUpdate, PathCatalogBulkDelete,
		PathCatalogVariantBulkCreate, PathCatalogVariantBulkUpdate, PathCatalogVariantBulkDelete} {
		if m == "GET" && strings.HasPrefix(p, jp+"/") {
			return route{limitKey: jp, id: strings.TrimPrefix(p, jp+"/"), handle: (*Server).handleJob}, true
		}
	}
	return route{}, false
}

// obj walks a decoded document: obj(doc, "data", "attributes").
func obj(v any, path ...string) map[string]any {
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	m, _ := v.(map[string]any)
	return m
}

func list(v any, path ...string) []any {
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	l, _ := v.([]any)
	return l
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// profileKey returns the strongest identifier of a profile, or "" when it
// has none (Klaviyo then rejects the request).
func profileKey(attrs map[string]any, id string) string {
	for _, k := range []string{"email", "phone_number", "external_id", "_kx", "anonymous_id"} {
		if v := strings.TrimSpace(str(attrs, k)); v != "" {
			prefix := map[string]string{"email": "email:", "phone_number": "phone:", "external_id": "external:", "_kx": "kx:", "anonymous_id": "anon:"}[k]
			return prefix + v
		}
	}
	if id != "" {
		return "id:" + id
	}
	return ""
}

var (
	minTime = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
)

// badPhone is Klaviyo's refusal of a profile whose phone_number is not
// E.164, pointing at it under ptr (the profile's attributes), or nil.
func (s *Server) badPhone(attrs map[string]any, ptr string) *reply {
	v, ok := attrs["phone_number"]
	if !ok || v == nil {
		return nil
	}
	if p, _ := v.(string); !shop.IsE164(p) {
		r := s.invalid("Invalid phone number format (Example of a valid format: +12345678901)", ptr+"/phone_number")
		return &r
	}
	return nil
}

// parseEvent checks one event's attributes (profile given separately for
// bulk entries) and returns it ready to record, or the 400 to answer.
func (s *Server) parseEvent(c *call, attrs, profile map[string]any, profileID, ptr string, entryBackfill bool) (Event, *reply) {
	bad := func(detail, p string) (Event, *reply) {
		r := s.invalid(detail, p)
		return Event{}, &r
	}
	key := profileKey(profile, profileID)
	if key == "" {
		return bad("One of the following profile identifiers is required: id, email, phone_number, external_id, anonymous_id, _kx", ptr+"/profile/data/attributes")
	}
	if r := s.badPhone(profile, ptr+"/profile/data/attributes"); r != nil {
		return Event{}, r
	}
	name := str(obj(attrs, "metric", "data", "attributes"), "name")
	if strings.TrimSpace(name) == "" {
		return bad("metric name must not be blank", ptr+"/metric/data/attributes/name")
	}
	if len([]rune(name)) >= 128 {
		return bad("metric name must be less than 128 characters", ptr+"/metric/data/attributes/name")
	}
	props := obj(attrs, "properties")
	if len(props) > 400 {
		return bad(fmt.Sprintf("properties has %d keys; at most 400 are allowed", len(props)), ptr+"/properties")
	}
	if err := checkLimits(props, 1); err != "" {
		return bad(err, ptr+"/properties")
	}
	t := str(attrs, "time")
	if t != "" {
		tt, err := time.Parse(time.RFC3339, t)
		if err != nil {
			return bad("time "+t+" is not an ISO 8601 date-time", ptr+"/time")
		}
		if tt.Before(minTime) || tt.After(s.now().AddDate(1, 0, 0)) {
			return bad("time must be after 1990 and at most one year in the future", ptr+"/time")
		}
	}
	if _, isStr := attrs["value"].(string); isStr {
		return bad("value must be a number", ptr+"/value")
	}
	backfill, _ := attrs["backfill"].(bool)
	if (backfill || entryBackfill) && c.rev < BackfillRevision {
		return bad("backfill requires revision "+BackfillRevision+" or later", ptr+"/backfill")
	}
	val, _ := attrs["value"].(json.Number)
	e := Event{
		Path: strings.TrimSuffix(c.r.URL.Path, "/"), ProfileKey: key, Profile: profile, Metric: name,
		UniqueID: str(attrs, "unique_id"), Time: t, Value: val, ValueCurrency: str(attrs, "value_currency"),
		Properties: props, Backfill: backfill || entryBackfill, Request: c.idx, Raw: c.body,
	}
	if r := s.rejected(e, ptr); r != nil {
		return Event{}, r
	}
	return e, nil
}

// checkLimits enforces string, array and depth limits on a properties value.
func checkLimits(v any, depth int) string {
	if depth > 10 {
		return "properties are nested deeper than 10 levels"
	}
	switch x := v.(type) {
	case string:
		if len(x) > 100*1024 {
			return "a string is longer than 100 KB"
		}
	case []any:
		if len(x) > 4000 {
			return "an array has more than 4000 items"
		}
		for _, e := range x {
			if err := checkLimits(e, depth+1); err != "" {
				return err
			}
		}
	case map[string]any:
		for _, e := range x {
			if err := checkLimits(e, depth+1); err != "" {
				return err
			}
		}
	}
	return ""
}

// dedupKey is Klaviyo's event identity: profile, metric, unique_id (else
// the time to the second, else the receipt second).
func (s *Server) dedupKey(e Event) string {
	id := e.UniqueID
	if id == "" {
		t := e.Time
		if t == "" {
			t = s.now().UTC().Truncate(time.Second).Format(time.RFC3339)
		} else if tt, err := time.Parse(time.RFC3339, t); err == nil {
			t = tt.UTC().Truncate(time.Second).Format(time.RFC3339)
		}
		id = "time:" + t
	}
	return e.ProfileKey + "\x00" + e.Metric + "\x00" + id
}

// recordEvents keeps the events not seen before. Called with s.mu held.
func (s *Server) recordEvents(st *Stats, evs []Event) {
	for _, e := range evs {
		k := s.dedupKey(e)
		if s.seen[k] {
			st.Duplicates++
			continue
		}
		s.seen[k] = true
		s.events = append(s.events, e)
		st.Events++
	}
}

func accepted(status int) reply { return reply{status: status} }

func (s *Server) handleEvent(c *call) reply {
	attrs := obj(c.doc, "data", "attributes")
	pdata := obj(attrs, "profile", "data")
	e, bad := s.parseEvent(c, attrs, obj(pdata, "attributes"), str(pdata, "id"), "/data/attributes", false)
	if bad != nil {
		return *bad
	}
	rep := accepted(http.StatusAccepted)
	rep.commit = func() { s.recordEvents(c.st, []Event{e}) }
	return rep
}

// checkEntries validates bulk entries: identifiers, ≤ 1,000 events and no
// repeated (profile, metric, unique_id) anywhere in the request. Like
// Klaviyo, it refuses the whole request for any invalid entry or event and
// lists every one of them, each with its source.pointer.
func (s *Server) checkEntries(c *call, entries []any, ptr string) ([]Event, *reply) {
	var evs []Event
	var invalid []apiError
	seen := map[string]string{}
	for i, en := range entries {
		ea := obj(en, "attributes")
		pdata := obj(ea, "profile", "data")
		eb, _ := ea["backfill"].(bool)
		if profileKey(obj(pdata, "attributes"), str(pdata, "id")) == "" {
			r := s.invalid("One of the following profile identifiers is required: id, email, phone_number, external_id, anonymous_id, _kx", fmt.Sprintf("%s/%d/attributes/profile/data/attributes", ptr, i))
			invalid = append(invalid, errorsOf(r)...)
			continue
		}
		if r := s.badPhone(obj(pdata, "attributes"), fmt.Sprintf("%s/%d/attributes/profile/data/attributes", ptr, i)); r != nil {
			invalid = append(invalid, errorsOf(*r)...)
			continue
		}
		for j, ev := range list(ea, "events", "data") {
			p := fmt.Sprintf("%s/%d/attributes/events/data/%d/attributes", ptr, i, j)
			e, bad := s.parseEvent(c, obj(ev, "attributes"), obj(pdata, "attributes"), str(pdata, "id"), p, eb)
			if bad != nil {
				invalid = append(invalid, errorsOf(*bad)...)
				continue
			}
			if e.UniqueID != "" {
				k := e.ProfileKey + "\x00" + e.Metric + "\x00" + e.UniqueID
				if prev, ok := seen[k]; ok {
					r := s.invalid(fmt.Sprintf("Duplicate unique_id %q for the same profile and metric (also at %s); the whole request is rejected", e.UniqueID, prev), p+"/unique_id")
					return nil, &r
				}
				seen[k] = p
			}
			evs = append(evs, e)
		}
	}
	if len(invalid) > 0 {
		r := errorsReply(invalid)
		return nil, &r
	}
	if len(evs) > 1000 {
		r := s.invalid(fmt.Sprintf("%d events in one request; at most 1000 are allowed", len(evs)), ptr)
		return nil, &r
	}
	if len(evs) == 0 {
		r := s.invalid("the request holds no events", ptr)
		return nil, &r
	}
	return evs, nil
}

func (s *Server) handleBulk(c *call) reply {
	entries := list(obj(c.doc, "data", "attributes", "events-bulk-create"), "data")
	evs, bad := s.checkEntries(c, entries, "/data/attributes/events-bulk-create/data")
	if bad != nil {
		return *bad
	}
	rep := accepted(http.StatusAccepted)
	rep.commit = func() { s.recordEvents(c.st, evs) }
	return rep
}

func (s *Server) handleClientBulk(c *call) reply {
	entry := obj(c.doc, "data")
	evs, bad := s.checkEntries(c, []any{entry}, "/data")
	if bad != nil {
		return *bad
	}
	rep := accepted(http.StatusAccepted)
	rep.commit = func() { s.recordEvents(c.st, evs) }
	return rep
}

func (s *Server) handleClientProfile(c *call) reply {
	data := obj(c.doc, "data")
	attrs := obj(data, "attributes")
	key := profileKey(attrs, str(data, "id"))
	if key == "" {
		return s.invalid("One of the following profile identifiers is required: id, email, phone_number, external_id, anonymous_id, _kx", "/data/attributes")
	}
	if r := s.badPhone(attrs, "/data/attributes"); r != nil {
		return *r
	}
	rep := accepted(http.StatusAccepted)
	rep.commit = func() {
		s.profiles = append(s.profiles, Profile{Key: key, Attributes: attrs, Raw: c.body})
		c.st.Events++
	}
	return rep
}

// Catalog items: id is "$custom:::$default:::<external_id>".

func catalogID(attrs map[string]any) string {
	it := str(attrs, "integration_type")
	if it == "" {
		it = "$custom"
	}
	ct := str(attrs, "catalog_type")
	if ct == "" {
		ct = "$default"
	}
	return it + ":::" + ct + ":::" + str(attrs, "external_id")
}

func (s *Server) itemResource(id string) map[string]any {
	return map[string]any{"type": "catalog-item", "id": id, "attributes": s.catalog[id],
		"links": map[string]any{"self": s.URL + PathCatalogItems + "/" + url.PathEscape(id)}}
}

func jsonReply(status int, v any) reply {
	b, _ := json.Marshal(v)
	return reply{status: status, header: http.Header{"Content-Type": {"application/vnd.api+json"}}, body: b}
}

func (s *Server) handleCatalogCreate(c *call) reply {
	attrs := obj(c.doc, "data", "attributes")
	id := catalogID(attrs)
	if _, ok := s.catalog[id]; ok {
		return s.errReply(409, "conflict", "Conflict.", "A catalog item already exists with id "+id, "/data/attributes/external_id", "")
	}
	s.catalog[id] = attrs
	s.catalogKeys = append(s.catalogKeys, id)
	return jsonReply(http.StatusCreated, map[string]any{"data": s.itemResource(id)})
}

func (s *Server) handleCatalogList(c *call) reply {
	var data []any
	for _, id := range s.catalogKeys {
		if _, ok := s.catalog[id]; ok {
			data = append(data, s.itemResource(id))
		}
	}
	if data == nil {
		data = []any{}
	}
	return jsonReply(http.StatusOK, map[string]any{"data": data, "links": map[string]any{"self": s.URL + PathCatalogItems, "next": nil}})
}

func (s *Server) handleCatalogItem(c *call) reply {
	cur, ok := s.catalog[c.id]
	if !ok {
		return s.errReply(404, "not_found", "Not found.", "No catalog item with id "+c.id, "", "")
	}
	switch c.r.Method {
	case "GET":
		return jsonReply(http.StatusOK, map[string]any{"data": s.itemResource(c.id)})
	case "DELETE":
		delete(s.catalog, c.id)
		return reply{status: http.StatusNoContent}
	}
	data := obj(c.doc, "data")
	if str(data, "type") != "catalog-item" {
		return s.invalid(`data.type must be "catalog-item"`, "/data/type")
	}
	if str(data, "id") != c.id {
		return s.errReply(409, "conflict", "Conflict.", "data.id does not match the URL", "/data/id", "")
	}
	upd := obj(data, "attributes")
	if upd == nil {
		return s.invalid("data.attributes is required", "/data/attributes")
	}
	if _, ok := upd["external_id"]; ok {
		return s.invalid("external_id cannot be changed", "/data/attributes/external_id")
	}
	merged := map[string]any{}
	for k, v := range cur {
		merged[k] = v
	}
	for k, v := range upd {
		merged[k] = v
	}
	s.catalog[c.id] = merged
	return jsonReply(http.StatusOK, map[string]any{"data": s.itemResource(c.id)})
}

// job records a finished bulk job and answers 202 with it.
func (s *Server) job(kind string, total int, errs []any) reply {
	id := s.nextID()
	j := map[string]any{"type": kind, "id": id, "attributes": map[string]any{
		"status": "complete", "total_count": total, "completed_count": total - len(errs),
		"failed_count": len(errs), "errors": errs, "created_at": s.now().UTC().Format(time.RFC3339),
		"completed_at": s.now().UTC().Format(time.RFC3339)}}
	s.jobs[id] = j
	return jsonReply(http.StatusAccepted, map[string]any{"data": j})
}

func (s *Server) jobItems(c *call, kind string) ([]any, *reply) {
	data := obj(c.doc, "data")
	if str(data, "type") != kind {
		r := s.invalid(fmt.Sprintf("data.type must be %q", kind), "/data/type")
		return nil, &r
	}
	items := list(obj(data, "attributes", "items"), "data")
	if len(items) == 0 || len(items) > 100 {
		r := s.invalid(fmt.Sprintf("a job holds 1 to 100 items, not %d", len(items)), "/data/attributes/items/data")
		return nil, &r
	}
	return items, nil
}

func itemErr(i int, detail string) any {
	return map[string]any{"id": fmt.Sprint(i), "code": "invalid", "title": "Invalid input.", "detail": detail,
		"source": map[string]any{"pointer": fmt.Sprintf("/data/attributes/items/data/%d", i)}}
}

func (s *Server) handleCatalogBulkCreate(c *call) reply {
	items, bad := s.jobItems(c, "catalog-item-bulk-create-job")
	if bad != nil {
		return *bad
	}
	seen := map[string]bool{}
	for i, it := range items {
		id := catalogID(obj(it, "attributes"))
		if seen[id] {
			return s.invalid("duplicate external_id "+str(obj(it, "attributes"), "external_id")+" in one job", fmt.Sprintf("/data/attributes/items/data/%d/attributes/external_id", i))
		}
		seen[id] = true
	}
	var errs []any
	for i, it := range items {
		attrs := obj(it, "attributes")
		id := catalogID(attrs)
		if _, ok := s.catalog[id]; ok {
			errs = append(errs, itemErr(i, "A catalog item already exists with id "+id))
			continue
		}
		s.catalog[id] = attrs
		s.catalogKeys = append(s.catalogKeys, id)
	}
	return s.job("catalog-item-bulk-create-job", len(items), errs)
}

func (s *Server) handleCatalogBulkUpdate(c *call) reply {
	items, bad := s.jobItems(c, "catalog-item-bulk-update-job")
	if bad != nil {
		return *bad
	}
	var errs []any
	for i, it := range items {
		id := str(obj(it), "id")
		cur, ok := s.catalog[id]
		if str(obj(it), "type") != "catalog-item" || id == "" {
			return s.invalid(`each item needs type "catalog-item" and an id`, fmt.Sprintf("/data/attributes/items/data/%d", i))
		}
		if !ok {
			errs = append(errs, itemErr(i, "No catalog item with id "+id))
			continue
		}
		merged := map[string]any{}
		for k, v := range cur {
			merged[k] = v
		}
		for k, v := range obj(it, "attributes") {
			merged[k] = v
		}
		s.catalog[id] = merged
	}
	return s.job("catalog-item-bulk-update-job", len(items), errs)
}

func (s *Server) handleCatalogBulkDelete(c *call) reply {
	items, bad := s.jobItems(c, "catalog-item-bulk-delete-job")
	if bad != nil {
		return *bad
	}
	var errs []any
	for i, it := range items {
		id := str(obj(it), "id")
		if str(obj(it), "type") != "catalog-item" || id == "" {
			return s.invalid(`each item needs type "catalog-item" and an id`, fmt.Sprintf("/data/attributes/items/data/%d", i))
		}
		if _, ok := s.catalog[id]; !ok {
			errs = append(errs, itemErr(i, "No catalog item with id "+id))
			continue
		}
		delete(s.catalog, id)
		for vid, v := range s.variants { // an item takes its variants with it
			if v.Item == id {
				delete(s.variants, vid)
			}
		}
	}
	return s.job("catalog-item-bulk-delete-job", len(items), errs)
}

func (s *Server) handleJob(c *call) reply {
	j, ok := s.jobs[c.id]
	if !ok {
		return s.errReply(404, "not_found", "Not found.", "No job with id "+c.id, "", "")
	}
	return jsonReply(http.StatusOK, map[string]any{"data": j})
}
