package klaviyotest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// OpenAPIDirEnv names the environment variable that points at the folder of
// Klaviyo OpenAPI slices (create_event.json, ...). Without it the folder is
// looked for as shared/klaviyo-openapi or klaviyo-openapi in the working
// directory and each of its parents, which finds ../shared/klaviyo-openapi
// from the module root.
const OpenAPIDirEnv = "SNIPPETD_KLAVIYO_OPENAPI"

// Schemas validates request bodies against Klaviyo's OpenAPI slices, one
// request-body schema per slice file.
type Schemas struct {
	// Dir is the folder the slices were read from ("" when absent).
	Dir    string
	bodies map[string]*openapi3.Schema // file name → request body schema
}

var (
	schemasOnce sync.Once
	schemas     *Schemas
	schemasErr  error
)

// LoadSchemas finds and loads the OpenAPI slices once per process. It
// returns (nil, nil) when the folder is absent, so that callers skip the
// schema check and say so, and an error when the folder exists but a slice
// is unreadable or invalid (that must not pass silently).
func LoadSchemas() (*Schemas, error) {
	schemasOnce.Do(func() {
		dir := FindOpenAPIDir()
		if dir == "" {
			return
		}
		schemas, schemasErr = loadSchemas(dir)
	})
	return schemas, schemasErr
}

// FindOpenAPIDir returns the folder of OpenAPI slices, or "" when none is
// found (see OpenAPIDirEnv).
func FindOpenAPIDir() string {
	if d := os.Getenv(OpenAPIDirEnv); d != "" {
		if isSliceDir(d) {
			return d
		}
		return ""
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		for _, c := range []string{filepath.Join(dir, "shared", "klaviyo-openapi"), filepath.Join(dir, "klaviyo-openapi")} {
			if isSliceDir(c) {
				return c
			}
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

func isSliceDir(d string) bool {
	_, err := os.Stat(filepath.Join(d, "create_event.json"))
	return err == nil
}

// sliceFiles are the slices the fake validates against.
var sliceFiles = []string{
	"create_event.json",
	"bulk_create_events.json",
	"create_client_event.json",
	"bulk_create_client_events.json",
	"create_client_profile.json",
	"create_catalog_item.json",
	"bulk_create_catalog_items.json",
}

func loadSchemas(dir string) (*Schemas, error) {
	s := &Schemas{Dir: dir, bodies: map[string]*openapi3.Schema{}}
	for _, f := range sliceFiles {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile(filepath.Join(dir, f))
		if err != nil {
			return nil, fmt.Errorf("klaviyotest: load %s: %w", f, err)
		}
		if err := doc.Validate(context.Background()); err != nil {
			return nil, fmt.Errorf("klaviyotest: %s is not a valid OpenAPI document: %w", f, err)
		}
		var body *openapi3.Schema
		for _, item := range doc.Paths.Map() {
			if item.Post != nil && item.Post.RequestBody != nil && item.Post.RequestBody.Value != nil {
				if mt := item.Post.RequestBody.Value.Content.Get("application/vnd.api+json"); mt != nil && mt.Schema != nil {
					body = mt.Schema.Value
				}
			}
		}
		if body == nil {
			return nil, fmt.Errorf("klaviyotest: %s has no POST request body schema", f)
		}
		s.bodies[f] = body
	}
	return s, nil
}

// Validate checks doc (decoded with json.Decoder.UseNumber) against the
// request body schema of the slice file. The error names the JSON pointer
// of the first violation.
func (s *Schemas) Validate(file string, doc any) (pointer string, err error) {
	body, ok := s.bodies[file]
	if !ok {
		return "", fmt.Errorf("klaviyotest: no slice %s", file)
	}
	err = body.VisitJSON(doc)
	if err == nil {
		return "", nil
	}
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		return "/" + strings.Join(se.JSONPointer(), "/"), fmt.Errorf("%s", se.Reason)
	}
	return "/data", err
}

// ValidateJSON is Validate for raw JSON, for golden tests of encoders.
func (s *Schemas) ValidateJSON(file string, data []byte) error {
	doc, err := decodeJSON(data)
	if err != nil {
		return err
	}
	ptr, err := s.Validate(file, doc)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", file, ptr, err)
	}
	return nil
}
