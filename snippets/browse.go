package snippets

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/snippetd/snippetd/internal/jsonw"
)

// The browse-intent events use the metric and property names of Klaviyo's
// Salesforce Commerce Cloud cartridge (klaviyo/SFCC_Klaviyo, eventData/
// viewedCategory.js and searchedSite.js), so that Klaviyo's prebuilt
// browse- and search-abandonment flows and segments made for that
// cartridge work unchanged: "Viewed Category" carries the category id
// under the metric's own name, "Searched Site" carries "Search Term" and
// "Search Results Count". The cartridge sends nothing else; the category
// name and URL and the product ids shown are added under names in the same
// style, which those templates ignore and custom flows can use.
const (
	MetricViewedCategory = "Viewed Category"
	MetricSearchedSite   = "Searched Site"
)

// MaxShownProducts is the most product ids a browse event carries: a page
// of results, not a whole category.
const MaxShownProducts = 100

// Category is a category (collection) page as a storefront shows it.
type Category struct {
	// ID is the category's id in the storefront (required).
	ID string `json:"id"`
	// Name is its display name (required).
	Name string `json:"name"`
	// URL is the category page's address.
	URL string `json:"url,omitempty"`
	// ProductIDs are the ids of the products the page shows, in page order.
	ProductIDs []string `json:"product_ids,omitempty"`
}

// Search is one site search as the results page shows it.
type Search struct {
	// Term is what the shopper searched for (required).
	Term string `json:"term"`
	// ResultsCount is the number of results of the whole search (0 when
	// omitted: a search that found nothing, which search-abandonment
	// segments care most about).
	ResultsCount int64 `json:"results_count"`
	// ProductIDs are the ids of the products the page shows, in page order.
	ProductIDs []string `json:"product_ids,omitempty"`
}

// The request fields of the browse events.
const (
	fieldCategory = "category"
	fieldSearch   = "search"
)

// Validate checks a category; field is its JSON path ("category").
func (c Category) Validate(field string) error {
	switch {
	case strings.TrimSpace(c.ID) == "":
		return fieldErrorf(field+".id", "is required")
	case strings.TrimSpace(c.Name) == "":
		return fieldErrorf(field+".name", "is required")
	}
	return validateShown(c.ProductIDs, field+".product_ids")
}

// Validate checks a search; field is its JSON path ("search").
func (s Search) Validate(field string) error {
	switch {
	case strings.TrimSpace(s.Term) == "":
		return fieldErrorf(field+".term", "is required")
	case s.ResultsCount < 0:
		return fieldErrorf(field+".results_count", "must not be negative")
	}
	return validateShown(s.ProductIDs, field+".product_ids")
}

func validateShown(ids []string, field string) error {
	if len(ids) > MaxShownProducts {
		return fieldErrorf(field, "must hold at most %d ids (the products one page shows)", MaxShownProducts)
	}
	for i, id := range ids {
		if strings.TrimSpace(id) == "" {
			return fieldErrorf(fmt.Sprintf("%s[%d]", field, i), "must not be blank")
		}
	}
	return nil
}

// ViewedCategoryEvent builds the Viewed Category event of a category page:
// {"Viewed Category": id, "Category Name", "Category URL", "Product IDs"},
// the last two only when given. Errors name "category.<field>".
func ViewedCategoryEvent(c Category) (Event, error) {
	if err := c.Validate(fieldCategory); err != nil {
		return Event{}, err
	}
	b := make([]byte, 0, 96+len(c.ID)+len(c.Name)+len(c.URL)+idsSize(c.ProductIDs))
	b = append(b, '{')
	b = field(b, "Viewed Category", true)
	b = jsonw.AppendString(b, c.ID)
	b = field(b, "Category Name", false)
	b = jsonw.AppendString(b, c.Name)
	if c.URL != "" {
		b = field(b, "Category URL", false)
		b = jsonw.AppendString(b, c.URL)
	}
	if len(c.ProductIDs) > 0 {
		b = field(b, "Product IDs", false)
		b = jsonw.AppendStrings(b, c.ProductIDs)
	}
	return Event{Metric: MetricViewedCategory, Properties: append(b, '}')}, nil
}

// ViewedCategoryPushes builds ["track","Viewed Category",{...}],
// ViewedCategoryEvent's event as a push.
func ViewedCategoryPushes(c Category) ([]Push, error) {
	e, err := ViewedCategoryEvent(c)
	if err != nil {
		return nil, err
	}
	return []Push{e.Push()}, nil
}

// SearchedSiteEvent builds the Searched Site event of a results page:
// {"Search Term", "Search Results Count", "Product IDs"}, the last only
// when given. The count is a JSON number, so that segments can compare
// it (the cartridge passes on the string it was handed). Errors name
// "search.<field>".
func SearchedSiteEvent(s Search) (Event, error) {
	if err := s.Validate(fieldSearch); err != nil {
		return Event{}, err
	}
	b := make([]byte, 0, 96+len(s.Term)+idsSize(s.ProductIDs))
	b = append(b, '{')
	b = field(b, "Search Term", true)
	b = jsonw.AppendString(b, s.Term)
	b = field(b, "Search Results Count", false)
	b = strconv.AppendInt(b, s.ResultsCount, 10)
	if len(s.ProductIDs) > 0 {
		b = field(b, "Product IDs", false)
		b = jsonw.AppendStrings(b, s.ProductIDs)
	}
	return Event{Metric: MetricSearchedSite, Properties: append(b, '}')}, nil
}

// SearchedSitePushes builds ["track","Searched Site",{...}],
// SearchedSiteEvent's event as a push.
func SearchedSitePushes(s Search) ([]Push, error) {
	e, err := SearchedSiteEvent(s)
	if err != nil {
		return nil, err
	}
	return []Push{e.Push()}, nil
}

// ViewedCategory writes the Viewed Category push of a category page.
// Rendering fails with a field error when c does not validate.
func ViewedCategory(c Category) Snippet {
	ps, err := ViewedCategoryPushes(c)
	if err != nil {
		return Snippet{err: err}
	}
	return Snippet{markup: viewedCategoryMarkup(ps[0]), pushes: ps}
}

// SearchedSite writes the Searched Site push of a search results page.
// Rendering fails with a field error when s does not validate.
func SearchedSite(s Search) Snippet {
	ps, err := SearchedSitePushes(s)
	if err != nil {
		return Snippet{err: err}
	}
	return Snippet{markup: searchedSiteMarkup(ps[0]), pushes: ps}
}

func idsSize(ids []string) int {
	n := 0
	for _, id := range ids {
		n += len(id) + 3
	}
	return n
}
