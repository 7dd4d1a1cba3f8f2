package klaviyotest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// CatalogVariant is one catalog variant the fake holds: its item's id and
// its attributes as last sent.
type CatalogVariant struct {
	Item       string
	Attributes map[string]any
}

// BackInStock is one back-in-stock subscription the fake accepted.
type BackInStock struct {
	// Variant is the catalog variant id, "$custom:::$default:::<external id>".
	Variant  string
	Channels []string
	// ProfileKey is the strongest identifier, such as "email:a@b.c".
	ProfileKey string
	Profile    map[string]any
	Client     bool
	Raw        json.RawMessage
}

// CatalogVariants returns the catalog variants by id.
func (s *Server) CatalogVariants() map[string]CatalogVariant {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]CatalogVariant, len(s.variants))
	for k, v := range s.variants {
		out[k] = v
	}
	return out
}

// PutCatalogVariant stores a variant of item (both Klaviyo ids), as if it
// had been created through the API, for tests that need one to exist.
func (s *Server) PutCatalogVariant(id, item string, attrs map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.variants[id] = CatalogVariant{Item: item, Attributes: attrs}
}

// BackInStockSubscriptions returns the back-in-stock subscriptions
// accepted, in order.
func (s *Server) BackInStockSubscriptions() []BackInStock {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]BackInStock(nil), s.bis...)
}

func variantErr(i int, detail string) any {
	return map[string]any{"id": fmt.Sprint(i), "code": "invalid", "title": "Invalid input.", "detail": detail,
		"source": map[string]any{"pointer": fmt.Sprintf("/data/attributes/variants/data/%d", i)}}
}

// variantItems checks a variant job's type and size (1 to 100 variants,
// the Catalog API's job limit) and returns its variants.
func (s *Server) variantItems(c *call, kind string) ([]any, *reply) {
	data := obj(c.doc, "data")
	if str(data, "type") != kind {
		r := s.invalid(fmt.Sprintf("data.type must be %q", kind), "/data/type")
		return nil, &r
	}
	vs := list(obj(data, "attributes", "variants"), "data")
	if len(vs) == 0 || len(vs) > 100 {
		r := s.invalid(fmt.Sprintf("a job holds 1 to 100 variants, not %d", len(vs)), "/data/attributes/variants/data")
		return nil, &r
	}
	return vs, nil
}

func (s *Server) handleVariantBulkCreate(c *call) reply {
	const kind = "catalog-variant-bulk-create-job"
	vs, bad := s.variantItems(c, kind)
	if bad != nil {
		return *bad
	}
	seen := map[string]bool{}
	for i, v := range vs {
		id := catalogID(obj(v, "attributes"))
		if seen[id] {
			return s.invalid("duplicate external_id "+str(obj(v, "attributes"), "external_id")+" in one job", fmt.Sprintf("/data/attributes/variants/data/%d/attributes/external_id", i))
		}
		seen[id] = true
	}
	var errs []any
	for i, v := range vs {
		attrs := obj(v, "attributes")
		id := catalogID(attrs)
		item := str(obj(v, "relationships", "item", "data"), "id")
		switch _, exists := s.variants[id]; {
		case exists:
			errs = append(errs, variantErr(i, "A catalog variant already exists with id "+id))
		case s.catalog[item] == nil:
			errs = append(errs, variantErr(i, "No catalog item with id "+item))
		default:
			s.variants[id] = CatalogVariant{Item: item, Attributes: attrs}
		}
	}
	return s.job(kind, len(vs), errs)
}

func (s *Server) handleVariantBulkUpdate(c *call) reply {
	const kind = "catalog-variant-bulk-update-job"
	vs, bad := s.variantItems(c, kind)
	if bad != nil {
		return *bad
	}
	var errs []any
	for i, v := range vs {
		id := str(obj(v), "id")
		if str(obj(v), "type") != "catalog-variant" || id == "" {
			return s.invalid(`each variant needs type "catalog-variant" and an id`, fmt.Sprintf("/data/attributes/variants/data/%d", i))
		}
		cur, ok := s.variants[id]
		if !ok {
			errs = append(errs, variantErr(i, "No catalog variant with id "+id))
			continue
		}
		merged := map[string]any{}
		for k, x := range cur.Attributes {
			merged[k] = x
		}
		for k, x := range obj(v, "attributes") {
			merged[k] = x
		}
		s.variants[id] = CatalogVariant{Item: cur.Item, Attributes: merged}
	}
	return s.job(kind, len(vs), errs)
}

func (s *Server) handleVariantBulkDelete(c *call) reply {
	const kind = "catalog-variant-bulk-delete-job"
	vs, bad := s.variantItems(c, kind)
	if bad != nil {
		return *bad
	}
	var errs []any
	for i, v := range vs {
		id := str(obj(v), "id")
		if str(obj(v), "type") != "catalog-variant" || id == "" {
			return s.invalid(`each variant needs type "catalog-variant" and an id`, fmt.Sprintf("/data/attributes/variants/data/%d", i))
		}
		if _, ok := s.variants[id]; !ok {
			errs = append(errs, variantErr(i, "No catalog variant with id "+id))
			continue
		}
		delete(s.variants, id)
	}
	return s.job(kind, len(vs), errs)
}

var e164 = regexp.MustCompile(`^\+[1-9]\d{6,14}$`)

// handleClientBackInStock checks what the slice cannot say: channels
// without repeats, each with the identifier it needs (EMAIL an email, SMS
// an E.164 phone number), and a variant that exists in the catalog.
func (s *Server) handleClientBackInStock(c *call) reply {
	data := obj(c.doc, "data")
	attrs := obj(data, "attributes")
	profile := obj(attrs, "profile", "data", "attributes")
	var channels []string
	for i, ch := range list(attrs, "channels") {
		name, _ := ch.(string)
		for _, prev := range channels {
			if prev == name {
				return s.invalid("channel "+name+" is repeated", fmt.Sprintf("/data/attributes/channels/%d", i))
			}
		}
		switch name {
		case "EMAIL":
			if !strings.Contains(str(profile, "email"), "@") {
				return s.invalid("the EMAIL channel needs the profile's email", "/data/attributes/profile/data/attributes/email")
			}
		case "SMS":
			if !e164.MatchString(str(profile, "phone_number")) {
				return s.invalid("the SMS channel needs the profile's phone_number in E.164 form", "/data/attributes/profile/data/attributes/phone_number")
			}
		}
		channels = append(channels, name)
	}
	if len(channels) == 0 {
		return s.invalid("at least one channel is required", "/data/attributes/channels")
	}
	key := profileKey(profile, str(obj(attrs, "profile", "data"), "id"))
	if key == "" {
		return s.invalid("One of the following profile identifiers is required: id, email, phone_number, external_id", "/data/attributes/profile/data/attributes")
	}
	variant := str(obj(data, "relationships", "variant", "data"), "id")
	if strings.Count(variant, ":::") != 2 {
		return s.invalid("variant id must be integrationType:::catalogId:::externalId", "/data/relationships/variant/data/id")
	}
	if _, ok := s.variants[variant]; !ok {
		return s.errReply(404, "not_found", "Not found.", "No catalog variant with id "+variant, "/data/relationships/variant/data/id", "")
	}
	rep := accepted(http.StatusAccepted)
	rep.commit = func() {
		s.bis = append(s.bis, BackInStock{Variant: variant, Channels: channels, ProfileKey: key, Profile: profile, Client: true, Raw: c.body})
	}
	return rep
}
