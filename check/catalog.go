package check

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxCatalog caps the feed the checker reads (Klaviyo's own cap per file).
const maxCatalog = 100 << 20

// loadCatalog reads the ids of a custom catalog feed: JSON (an array of
// objects with "id") or XML (<Products><Product><id>).
func loadCatalog(ctx context.Context, feedURL string, headers map[string]string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, feedURL, nil)
	if err != nil {
		return nil, fmt.Errorf("check: catalog %q: %w", feedURL, err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("check: catalog: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("check: catalog %s answered %s", feedURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCatalog+1))
	if err != nil {
		return nil, fmt.Errorf("check: catalog: %w", err)
	}
	if len(body) > maxCatalog {
		return nil, fmt.Errorf("check: catalog %s is larger than 100 MB", feedURL)
	}
	return parseCatalog(body)
}

func parseCatalog(body []byte) (map[string]bool, error) {
	ids := map[string]bool{}
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '<' {
		var feed struct {
			Products []struct {
				ID string `xml:"id"`
			} `xml:"Product"`
		}
		if err := xml.Unmarshal(body, &feed); err != nil {
			return nil, fmt.Errorf("check: catalog: %w", err)
		}
		for _, p := range feed.Products {
			ids[strings.TrimSpace(p.ID)] = true
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var feed []map[string]any
		if err := dec.Decode(&feed); err != nil {
			return nil, fmt.Errorf("check: catalog: want a JSON array of products: %w", err)
		}
		for i, p := range feed {
			switch id := p["id"].(type) {
			case string:
				ids[id] = true
			case json.Number:
				ids[id.String()] = true
			default:
				return nil, fmt.Errorf("check: catalog: product %d has no id", i)
			}
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("check: catalog lists no products")
	}
	return ids, nil
}
