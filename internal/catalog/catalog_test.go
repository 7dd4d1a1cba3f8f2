package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"github.com/snippetd/snippetd/internal/jsonw"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/shop"
)

// fixtureItems returns the items the fixture's valid products must become:
// the products with these ids, decoded and mapped with ItemOf.
func fixtureItems(t *testing.T, ids ...string) []Item {
	t.Helper()
	data, err := os.ReadFile("testdata/products.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	byID := map[string]Item{}
	for _, r := range raw {
		var p shop.Product
		if json.Unmarshal(r, &p) == nil {
			if _, ok := byID[p.ID]; !ok {
				byID[p.ID] = ItemOf(p)
			}
		}
	}
	// Custom fields: the members shop.Product does not know, in order;
	// null ones are left out.
	for _, r := range raw {
		var p shop.Product
		json.Unmarshal(r, &p)
		it, ok := byID[p.ID]
		if !ok || it.Fields != nil {
			continue
		}
		it.Fields = unknownMembers(t, r)
		byID[p.ID] = it
	}
	var out []Item
	for _, id := range ids {
		out = append(out, byID[id])
	}
	return out
}

// validFixtureIDs are the products of testdata/products.json that the
// feed must serve, in file order; every other product has a problem.
var validFixtureIDs = []string{"tee-1", "mug-2", "book-3", "typo-7", "last-11"}

func TestFeedGolden(t *testing.T) {
	// The JSON array and the JSON lines file hold the same products and
	// must produce byte-identical feeds.
	for _, src := range []string{"products.json", "products.jsonl"} {
		t.Run(src, func(t *testing.T) {
			c := openFile(t, filepath.Join("testdata", src), 0)
			golden(t, "feed.json", feed(t, c, JSON, 0))
			golden(t, "feed.xml", feed(t, c, XML, 0))
		})
	}
}

// xmlProducts is the XML feed as encoding/xml reads it.
type xmlProducts struct {
	XMLName  xml.Name `xml:"Products"`
	Products []struct {
		Item
		Price          string `xml:"price"`
		CompareAtPrice string `xml:"compare_at_price"`
		Categories     string `xml:"categories"`
		Custom         []struct {
			XMLName xml.Name
			Text    string `xml:",chardata"`
		} `xml:",any"`
	} `xml:"Product"`
}

// parseJSONFeed and parseXMLFeed read a feed back with the standard
// decoders.
func parseJSONFeed(t *testing.T, b []byte) []Item {
	t.Helper()
	var items []Item
	if err := json.Unmarshal(b, &items); err != nil {
		t.Fatalf("JSON feed does not parse: %v", err)
	}
	var raw []json.RawMessage
	json.Unmarshal(b, &raw)
	for i := range items {
		items[i].Fields = unknownMembers(t, raw[i])
	}
	return items
}

// unknownMembers returns obj's members that are not known product or
// feed fields, in order, as custom fields; null members are left out.
func unknownMembers(t *testing.T, obj []byte) []Field {
	t.Helper()
	dec := jsontext.NewDecoder(bytes.NewReader(obj))
	dec.ReadToken()
	var fs []Field
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			t.Fatal(err)
		}
		name := tok.String()
		v, err := dec.ReadValue()
		if err != nil {
			t.Fatal(err)
		}
		if knownNames[name] || v.Kind() == 'n' {
			continue
		}
		f := Field{Name: name, Text: string(v)}
		if v.Kind() == '"' {
			var s string
			json.Unmarshal(v, &s)
			f.Text, f.Quoted = s, true
		}
		fs = append(fs, f)
	}
	return fs
}

func parseXMLFeed(t *testing.T, b []byte) []Item {
	t.Helper()
	var doc xmlProducts
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("XML feed does not parse: %v", err)
	}
	var items []Item
	for _, p := range doc.Products {
		it := p.Item
		if p.Price != "" {
			m, err := shop.ParseMoney(p.Price)
			if err != nil {
				t.Fatalf("XML price %q: %v", p.Price, err)
			}
			it.Price = m
		}
		if p.CompareAtPrice != "" {
			m, err := shop.ParseMoney(p.CompareAtPrice)
			if err != nil {
				t.Fatalf("XML compare_at_price %q: %v", p.CompareAtPrice, err)
			}
			it.CompareAtPrice = m
		}
		if p.Categories != "" {
			it.Categories = strings.Split(p.Categories, ",")
		}
		// XML has no types: a custom field's text is compared, Quoted
		// is taken from the JSON feed (see ignoreQuoted).
		for _, c := range p.Custom {
			it.Fields = append(it.Fields, Field{Name: c.XMLName.Local, Text: c.Text})
		}
		items = append(items, it)
	}
	return items
}

var moneyCmp = cmp.Comparer(func(a, b shop.Money) bool { return a.IsSet() == b.IsSet() && a.Cents() == b.Cents() })

func TestFeedsParseBackToSameProducts(t *testing.T) {
	c := openFile(t, "testdata/products.json", 0)
	want := fixtureItems(t, validFixtureIDs...)
	fromJSON := parseJSONFeed(t, feed(t, c, JSON, 0))
	fromXML := parseXMLFeed(t, feed(t, c, XML, 0))
	if d := cmp.Diff(want, fromJSON, moneyCmp); d != "" {
		t.Errorf("JSON feed (-want +got):\n%s", d)
	}
	if d := cmp.Diff(fromJSON, fromXML, moneyCmp, cmpopts.IgnoreFields(Field{}, "Quoted")); d != "" {
		t.Errorf("XML feed differs from JSON feed (-json +xml):\n%s", d)
	}
	// The cleaning the parse-back relies on: the bell is gone, the rest
	// of the description survives both encoders.
	if d := fromXML[1].Description; strings.ContainsRune(d, 7) || !strings.Contains(d, "line two\ttabbed\r\n") || !strings.Contains(d, "😀") {
		t.Errorf("mug-2 description = %q", d)
	}
}

func TestProblemsReportEveryLeftOutProduct(t *testing.T) {
	c := openFile(t, "testdata/products.json", 0)
	r := c.Problems()
	type row struct {
		Kind, ID string
		Pos      int
		Field    string
	}
	var got []row
	for kind, g := range map[string]ProblemGroup{KindMissing: r.MissingFields, KindDuplicate: r.DuplicateIDs, KindInvalid: r.Invalid} {
		if g.Count != len(g.Products) {
			t.Errorf("%s: count %d, listed %d", kind, g.Count, len(g.Products))
		}
		for _, p := range g.Products {
			got = append(got, row{kind, p.ID, p.Position, p.Field})
		}
	}
	want := []row{
		{KindMissing, "no-desc-4", 4, "description"},
		{KindMissing, "  ", 7, "id"},
		{KindDuplicate, "tee-1", 5, "id"},
		{KindInvalid, "rel-5", 6, "link"},
		{KindInvalid, "nest-12", 13, "colour"},
		{KindInvalid, "price-8", 9, "price"},
		{KindInvalid, "neg-9", 10, "price"},
		{KindInvalid, "pol-10", 11, "inventory_policy"},
	}
	sortRows := cmp.Transformer("sort", func(rs []row) map[string]row {
		m := map[string]row{}
		for _, r := range rs {
			m[r.Kind+strconv.Itoa(r.Pos)] = r
		}
		return m
	})
	if d := cmp.Diff(want, got, sortRows); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
	if r.Products != len(validFixtureIDs) || r.Source != "file testdata/products.json" {
		t.Errorf("products %d source %q", r.Products, r.Source)
	}
}

func TestFeedSplitsIntoParts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "many.jsonl")
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, `{"id":"p%02d","name":"Product %d","url":"https://s.example/p/%d","image_url":"https://s.example/i/%d.jpg","description":"d","price":%d.5,"categories":["a","b"]}`+"\n", i, i, i, i, i)
	}
	os.WriteFile(path, []byte(b.String()), 0o644)
	const limit = 1500
	c := openFile(t, path, limit)
	s, release := c.Acquire()
	defer release()
	for _, f := range Formats {
		t.Run(f.String(), func(t *testing.T) {
			whole := feed(t, c, f, 0)
			parse := parseJSONFeed
			if f == XML {
				parse = parseXMLFeed
			}
			parts := s.Parts(f)
			if len(parts) < 3 {
				t.Fatalf("%d parts; want the 40 products split over several %d-byte parts", len(parts), limit)
			}
			var joined []Item
			etags := map[string]bool{}
			for _, p := range parts {
				doc := feed(t, c, f, p.Number)
				if len(doc) > limit {
					t.Errorf("part %d is %d bytes, over the %d limit", p.Number, len(doc), limit)
				}
				items := parse(t, doc)
				if len(items) != p.Products {
					t.Errorf("part %d holds %d products, index says %d", p.Number, len(items), p.Products)
				}
				joined = append(joined, items...)
				etags[s.ETag(f, p.Number, false)] = true
			}
			if d := cmp.Diff(parse(t, whole), joined, moneyCmp); d != "" {
				t.Errorf("parts joined differ from the whole feed (-whole +parts):\n%s", d)
			}
			if len(etags) != len(parts) {
				t.Errorf("parts share ETags: %v", etags)
			}
		})
	}
}

func TestCSVSource(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "p.csv")
	os.WriteFile(csvPath, []byte("\uFEFFid,title,link,image_link,description,price,categories,inventory_quantity,inventory_policy\n"+
		"a1,\"Comma, Inc. \"\"Shirt\"\"\",https://s.example/a1,https://s.example/a1.jpg,\"two\nlines\",19.99,Apparel|Shirts,4,1\n"+
		"b2,Plain,https://s.example/b2,https://s.example/b2.jpg,desc,,,,\n"+
		"c3,Bad price,https://s.example/c3,https://s.example/c3.jpg,desc,abc,,,\n"+
		"d4,Short row\n"), 0o644)
	jsonPath := filepath.Join(dir, "p.json")
	os.WriteFile(jsonPath, []byte(`[
		{"id":"a1","name":"Comma, Inc. \"Shirt\"","url":"https://s.example/a1","image_url":"https://s.example/a1.jpg","description":"two\nlines","price":19.99,"categories":["Apparel","Shirts"],"inventory_quantity":4,"inventory_policy":1},
		{"id":"b2","name":"Plain","url":"https://s.example/b2","image_url":"https://s.example/b2.jpg","description":"desc"}]`), 0o644)
	fromCSV, fromJSON := openFile(t, csvPath, 0), openFile(t, jsonPath, 0)
	if d := cmp.Diff(string(feed(t, fromJSON, JSON, 0)), string(feed(t, fromCSV, JSON, 0))); d != "" {
		t.Errorf("CSV feed differs from the same products as JSON (-json +csv):\n%s", d)
	}
	inv := fromCSV.Problems().Invalid
	got := []Problem{}
	for _, p := range inv.Products {
		got = append(got, Problem{ID: p.ID, Position: p.Position, Field: p.Field})
	}
	want := []Problem{{ID: "c3", Position: 5, Field: "price"}, {Position: 6}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("CSV problems (-want +got):\n%s", d)
	}
}

func TestBadFileFailsAtOpen(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"trunc.json":   `[{"id":"a"`,
		"text.json":    `hello`,
		"columns.csv":  "id,colour\n1,red\n",
		"missing.json": "",
	} {
		path := filepath.Join(dir, name)
		if name != "missing.json" {
			os.WriteFile(path, []byte(content), 0o644)
		}
		d := testDBs(t)["sqlite"]
		if _, err := Open(context.Background(), Options{File: path, DB: d, Dir: dir}); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v, want an error naming the file", name, err)
		}
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func productLine(id string) string {
	return fmt.Sprintf(`{"id":%q,"name":"N","url":"https://s.example/%s","image_url":"https://s.example/%s.jpg","description":"d"}`+"\n", id, id, id)
}

func TestFileReloadSwapsWithoutDisturbingReaders(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.jsonl")
	os.WriteFile(path, []byte(productLine("a")+productLine("b")), 0o644)
	d := testDBs(t)["sqlite"]
	c, err := Open(context.Background(), Options{File: path, DB: d, Dir: dir, Poll: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	old, release := c.Acquire()
	count := func() int { s, r := c.Acquire(); defer r(); return s.Count() }

	// Replaced by rename, as editors and deploy tools do.
	tmp := filepath.Join(dir, "new")
	os.WriteFile(tmp, []byte(productLine("a")+productLine("b")+productLine("c")), 0o644)
	os.Rename(tmp, path)
	waitFor(t, "3 products after rename", func() bool { return count() == 3 })

	// The request that started before the swap still reads its version.
	var buf bytes.Buffer
	if err := old.Write(&buf, JSON, 0); err != nil {
		t.Fatalf("old snapshot after swap: %v", err)
	}
	if n := len(parseJSONFeed(t, buf.Bytes())); n != 2 {
		t.Errorf("old snapshot serves %d products, want 2", n)
	}
	release()

	// A broken file keeps the last good version and says why.
	os.WriteFile(path, []byte(`[{"id":`), 0o644)
	waitFor(t, "load error", func() bool { return c.Problems().LoadError != "" })
	if n := count(); n != 3 {
		t.Errorf("after a bad file: %d products, want the previous 3", n)
	}
	// Rewritten in place; the error clears.
	os.WriteFile(path, []byte(productLine("z")), 0o644)
	waitFor(t, "1 product after rewrite", func() bool { return count() == 1 })
	if e := c.Problems().LoadError; e != "" {
		t.Errorf("load error still set: %s", e)
	}
}

func TestStoreWrites(t *testing.T) {
	p := func(id, desc string) shop.Product {
		return shop.Product{ID: id, Name: "N " + id, URL: "https://s.example/" + id, ImageURL: "https://s.example/" + id + ".jpg", Description: desc, Price: shop.Cents(1999)}
	}
	for name, d := range testDBs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c, err := Open(ctx, Options{DB: d, Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// A second instance on the same database sees writes by polling.
			other, err := Open(ctx, Options{DB: d, Dir: t.TempDir(), Poll: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if c.Configured() {
				t.Error("an empty database catalog counts as configured")
			}
			ids := func(c *Catalog) []string {
				var out []string
				for _, it := range parseJSONFeed(t, feed(t, c, JSON, 0)) {
					out = append(out, it.ID+":"+it.Description)
				}
				return out
			}
			if err := c.Put(ctx, []shop.Product{p("b", "1"), p("a", "1"), p("c", "1")}); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff([]string{"a:1", "b:1", "c:1"}, ids(c)); d != "" {
				t.Errorf("after PUT (-want +got):\n%s", d)
			}
			if err := c.Patch(ctx, []shop.Product{p("b", "2"), p("d", "1")}); err != nil {
				t.Fatal(err)
			}
			want := []string{"a:1", "b:2", "c:1", "d:1"}
			if d := cmp.Diff(want, ids(c)); d != "" {
				t.Errorf("after PATCH (-want +got):\n%s", d)
			}
			waitFor(t, "the other instance to reload", func() bool { s, r := other.Acquire(); defer r(); return s.Count() == 4 })
			if d := cmp.Diff(want, ids(other)); d != "" {
				t.Errorf("other instance (-want +got):\n%s", d)
			}
			for _, tc := range []struct {
				ps    []shop.Product
				field string
			}{
				{[]shop.Product{p("x", "1"), {ID: "y", Name: "Y", URL: "https://s.example/y", Description: "d"}}, "[1].image_url"},
				{[]shop.Product{p("x", "1"), p("y", "1"), p("x", "2")}, "[2].id"},
				{[]shop.Product{p("x", "")}, "[0].description"},
				{[]shop.Product{{ID: "x", Name: "X", URL: "ftp://s.example/x", ImageURL: "https://s.example/x.jpg", Description: "d"}}, "[0].url"},
			} {
				err := c.Put(ctx, tc.ps)
				if apperr.ErrorCode(err) != apperr.EINVALID || apperr.ErrorField(err) != tc.field {
					t.Errorf("PUT: err = %v, want invalid %s", err, tc.field)
				}
			}
			if d := cmp.Diff(want, ids(c)); d != "" {
				t.Errorf("rejected writes changed the catalog (-want +got):\n%s", d)
			}
			if err := c.Put(ctx, []shop.Product{p("z", "1")}); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff([]string{"z:1"}, ids(c)); d != "" {
				t.Errorf("PUT replaces (-want +got):\n%s", d)
			}
			if !c.Configured() {
				t.Error("catalog with products is not configured")
			}
		})
	}
}

func TestFileCatalogRefusesAPIWrites(t *testing.T) {
	c := openFile(t, "testdata/products.json", 0)
	err := c.Put(context.Background(), nil)
	var e *apperr.Error
	if !errors.As(err, &e) || e.Code != apperr.ECONFLICT || !strings.Contains(e.Message, "SNIPPETD_CATALOG_FILE") {
		t.Errorf("err = %v, want a conflict naming SNIPPETD_CATALOG_FILE", err)
	}
}

func TestObserveCountsUnknownProductIDs(t *testing.T) {
	c := openFile(t, "testdata/products.json", 0)
	for _, id := range []string{"tee-1", "ghost", "mug-2", "ghost", "phantom", "ghost", "", "no-desc-4"} {
		c.Observe(id)
	}
	want := UnknownReport{Events: 5, Top: []UnknownID{{"ghost", 3}, {"no-desc-4", 1}, {"phantom", 1}}}
	if d := cmp.Diff(want, c.Problems().UnknownProductIDs); d != "" {
		t.Errorf("unknown ids (-want +got):\n%s", d)
	}

	// Without any catalog there is nothing to compare against.
	empty, err := Open(context.Background(), Options{DB: testDBs(t)["sqlite"], Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	empty.Observe("ghost")
	if n := empty.Problems().UnknownProductIDs.Events; n != 0 {
		t.Errorf("unconfigured catalog counted %d events", n)
	}
	var nilCatalog *Catalog
	nilCatalog.Observe("ghost") // callers may hold a nil catalog
}

func TestUnknownIDsKeepFrequentOnesUnderAFlood(t *testing.T) {
	u := unknownIDs{limit: 10}
	for i := range 1000 {
		u.add("hot")
		u.add(fmt.Sprintf("random-%d", i))
	}
	r := u.report(3, nil)
	if len(u.counts) > 10 {
		t.Errorf("tracking %d ids, limit 10", len(u.counts))
	}
	if r.Events != 2000 || r.Top[0].ID != "hot" || r.Top[0].Count < 1000 {
		t.Errorf("report = %+v, want hot first with at least 1000", r)
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"tab\tnl\ncr\r", "tab\tnl\ncr\r"},
		{"bell\x07nul\x00esc\x1b", "bellnulesc"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{"nonchar \uFFFE\uFFFF ok \uFFFD", "nonchar  ok \uFFFD"},
		{"emoji 😀 é", "emoji 😀 é"},
	} {
		if got := clean(tc.in); got != tc.want {
			t.Errorf("clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzEncodersRoundTrip checks that any string, once cleaned, survives the
// hand-written JSON and XML encoders through the standard decoders.
func FuzzEncodersRoundTrip(f *testing.F) {
	for _, s := range []string{"", "a&b<c>\"d'", "\x00\x1f\t\r\n", "\u2028\u2029", "\xff\xfe", "]]>", "&#xA;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = clean(s)
		var fromJSON string
		if err := json.Unmarshal(jsonw.AppendString(nil, s), &fromJSON); err != nil || fromJSON != s {
			t.Fatalf("JSON: %q -> %q (%v)", s, fromJSON, err)
		}
		var fromXML struct {
			V string `xml:",chardata"`
		}
		doc := append(appendXMLText([]byte("<v>"), s), "</v>"...)
		if err := xml.Unmarshal(doc, &fromXML); err != nil || fromXML.V != s {
			t.Fatalf("XML: %q -> %q (%v)", s, fromXML.V, err)
		}
	})
}

func TestIDSet(t *testing.T) {
	var s idSet
	want := map[uint64]bool{}
	for i := range 5000 {
		h := uint64(i*7919) % 3001 // repeats, and 0
		if got := s.add(h); got != !want[s.key(h)] {
			t.Fatalf("add(%d) = %v", h, got)
		}
		want[s.key(h)] = true
	}
	got := s.sorted()
	if len(got) != len(want) || !slices.IsSorted(got) {
		t.Fatalf("sorted: %d members, want %d", len(got), len(want))
	}
	for _, h := range got {
		if !want[h] {
			t.Fatalf("unexpected member %d", h)
		}
	}
}

// TestReadersDuringReloads serves the feed from several goroutines while
// the file is replaced and reloaded over and over: every document read
// must be complete and hold one whole version.
func TestReadersDuringReloads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.jsonl")
	version := func(n int) {
		var b strings.Builder
		for i := range n {
			b.WriteString(productLine(fmt.Sprintf("v%d-%d", n, i)))
		}
		tmp := filepath.Join(dir, "tmp")
		os.WriteFile(tmp, []byte(b.String()), 0o644)
		os.Rename(tmp, path)
	}
	version(1)
	c := openFile(t, path, 0)
	done := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				s, release := c.Acquire()
				var buf bytes.Buffer
				err := s.Write(&buf, JSON, 0)
				release()
				var items []Item
				if err == nil {
					err = json.Unmarshal(buf.Bytes(), &items)
				}
				if err == nil {
					prefix := fmt.Sprintf("v%d-", len(items))
					for _, it := range items {
						if !strings.HasPrefix(it.ID, prefix) {
							err = fmt.Errorf("document mixes versions: %s in a %d-item feed", it.ID, len(items))
						}
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for n := 2; n <= 30; n++ {
		version(n)
		if err := c.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
