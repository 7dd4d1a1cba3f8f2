package catalog

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestXMLFeedEscapesEveryField: a product whose text holds XML's special
// characters, quotes, characters XML cannot carry and invalid UTF-8, in
// every text field and in its categories. The XML feed must parse with
// encoding/xml (strict) and give back each value as cleaned: markup
// characters intact, invalid UTF-8 as U+FFFD, characters XML forbids
// dropped; the JSON feed must carry the same values.
func TestXMLFeedEscapesEveryField(t *testing.T) {
	// JSON lines, written raw so that the \xff bytes reach the reader as
	// invalid UTF-8 (the source accepts it and cleaning replaces it).
	line := `{"id":"p&<1>\"'","name":"Tom & Jerry's \"Big\" <Mug> ]]> &amp;",` +
		`"url":"https://shop.example/p?a=1&b=<2>&c=\"q\"&d='s'",` +
		`"image_url":"https://cdn.example/i.png?w=1&h=2",` +
		`"description":"a < b && c > d\u0001, \ufffe gone, \u0007bell, tab\there\r\nnext ` + "\xff\xfe" + ` end",` +
		`"categories":["Tools & Hardware","<Kitchen>","Quote \"this\" 'that'","bell\u0007ring","bad` + "\xff" + `byte","]]>"],` +
		`"price":1.5}` + "\n"
	path := filepath.Join(t.TempDir(), "products.jsonl")
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	want := Item{
		ID:          `p&<1>"'`,
		Title:       `Tom & Jerry's "Big" <Mug> ]]> &amp;`,
		Link:        `https://shop.example/p?a=1&b=<2>&c="q"&d='s'`,
		Description: "a < b && c > d, \u0020gone, bell, tab\there\r\nnext \uFFFD\uFFFD end",
		ImageLink:   "https://cdn.example/i.png?w=1&h=2",
		Categories:  []string{"Tools & Hardware", "<Kitchen>", `Quote "this" 'that'`, "bellring", "bad\uFFFDbyte", "]]>"},
	}
	c := openFile(t, path, 0)
	raw := feed(t, c, XML, 0)

	var doc struct {
		Products []struct {
			ID          string `xml:"id"`
			Title       string `xml:"title"`
			Link        string `xml:"link"`
			Description string `xml:"description"`
			ImageLink   string `xml:"image_link"`
			Price       string `xml:"price"`
			Categories  string `xml:"categories"`
		} `xml:"Product"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("XML feed does not parse: %v\n%s", err, raw)
	}
	if len(doc.Products) != 1 {
		t.Fatalf("XML feed holds %d products, want 1:\n%s", len(doc.Products), raw)
	}
	p := doc.Products[0]
	for _, f := range []struct{ name, got, want string }{
		{"id", p.ID, want.ID}, {"title", p.Title, want.Title}, {"link", p.Link, want.Link},
		{"description", p.Description, want.Description}, {"image_link", p.ImageLink, want.ImageLink},
		{"price", p.Price, "1.5"},
	} {
		if f.got != f.want {
			t.Errorf("XML %s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if got := strings.Split(p.Categories, ","); !slices.Equal(got, want.Categories) {
		t.Errorf("XML categories = %q, want %q", got, want.Categories)
	}

	items := parseJSONFeed(t, feed(t, c, JSON, 0))
	if len(items) != 1 {
		t.Fatalf("JSON feed holds %d products", len(items))
	}
	j := items[0]
	if j.ID != want.ID || j.Title != want.Title || j.Link != want.Link || j.Description != want.Description ||
		j.ImageLink != want.ImageLink || !slices.Equal(j.Categories, want.Categories) {
		t.Errorf("JSON feed item = %+v, want %+v", j, want)
	}
}
