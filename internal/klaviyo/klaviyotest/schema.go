package klaviyotest

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// The slices are embedded so that the fake is strict on any clone and in
// any separately-built binary: there is no folder to find and no way to
// run without the request-body check.
//
//go:embed openapi/*.json openapi/LICENSE
var openapiFS embed.FS

// Slice files, one per Klaviyo endpoint; the fake's routes name them.
const (
	SliceEvent                    = "create_event.json"
	SliceBulkEvents               = "bulk_create_events.json"
	SliceClientEvent              = "create_client_event.json"
	SliceClientBulkEvents         = "bulk_create_client_events.json"
	SliceClientProfile            = "create_client_profile.json"
	SliceCatalogItem              = "create_catalog_item.json"
	SliceCatalogBulkCreate        = "bulk_create_catalog_items.json"
	SliceCatalogItemUpdate        = "update_catalog_item.json"
	SliceCatalogBulkUpdate        = "bulk_update_catalog_items.json"
	SliceCatalogBulkDelete        = "bulk_delete_catalog_items.json"
	SliceCatalogVariant           = "create_catalog_variant.json"
	SliceCatalogVariantBulkCreate = "bulk_create_catalog_variants.json"
	SliceCatalogVariantBulkUpdate = "bulk_update_catalog_variants.json"
	SliceCatalogVariantBulkDelete = "bulk_delete_catalog_variants.json"
	SliceSubscribeBulk            = "bulk_subscribe_profiles.json"
	SliceUnsubscribeBulk          = "bulk_unsubscribe_profiles.json"
	SliceClientSubscription       = "create_client_subscription.json"
	SliceProfileImport            = "create_or_update_profile.json"
	SliceBackInStock              = "create_back_in_stock_subscription.json"
	SliceClientBackInStock        = "create_client_back_in_stock_subscription.json"
	SliceProfileDeletion          = "request_profile_deletion.json"
)

const (
	sliceDir           = "openapi"
	sliceBodyType      = "application/vnd.api+json"
	sliceLicence       = "LICENSE"
	sliceLicenceHolder = "Klaviyo"
	sliceLicenceKind   = "MIT License"
)

// SliceFiles lists every slice the fake loads; a missing, unreadable or
// invalid one is an error from LoadSchemas, never a skipped check.
var SliceFiles = []string{
	SliceEvent, SliceBulkEvents, SliceClientEvent, SliceClientBulkEvents, SliceClientProfile,
	SliceCatalogItem, SliceCatalogBulkCreate, SliceCatalogItemUpdate, SliceCatalogBulkUpdate, SliceCatalogBulkDelete,
	SliceCatalogVariant, SliceCatalogVariantBulkCreate, SliceCatalogVariantBulkUpdate, SliceCatalogVariantBulkDelete,
	SliceSubscribeBulk, SliceUnsubscribeBulk, SliceClientSubscription, SliceProfileImport,
	SliceBackInStock, SliceClientBackInStock, SliceProfileDeletion,
}

// Schemas validates request bodies against Klaviyo's OpenAPI slices, one
// request-body schema per slice file.
type Schemas struct {
	bodies map[string]*openapi3.Schema // file name → request body schema
}

var (
	schemasOnce sync.Once
	schemas     *Schemas
	schemasErr  error
)

// LoadSchemas loads the embedded OpenAPI slices once per process. It never
// returns nil without an error.
func LoadSchemas() (*Schemas, error) {
	schemasOnce.Do(func() {
		sub, err := fs.Sub(openapiFS, sliceDir)
		if err != nil {
			schemasErr = err
			return
		}
		schemas, schemasErr = loadSchemas(sub, SliceFiles)
	})
	return schemas, schemasErr
}

// loadSchemas reads each of files from fsys, which must also hold the
// slices' licence: the slices are MIT and may not travel without it.
func loadSchemas(fsys fs.FS, files []string) (*Schemas, error) {
	lic, err := fs.ReadFile(fsys, sliceLicence)
	if err != nil {
		return nil, fmt.Errorf("klaviyotest: the OpenAPI slices' licence: %w", err)
	}
	if !strings.Contains(string(lic), sliceLicenceKind) || !strings.Contains(string(lic), sliceLicenceHolder) {
		return nil, fmt.Errorf("klaviyotest: %s is not Klaviyo's MIT licence", sliceLicence)
	}
	s := &Schemas{bodies: map[string]*openapi3.Schema{}}
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("klaviyotest: OpenAPI slice %s: %w", f, err)
		}
		doc, err := openapi3.NewLoader().LoadFromData(data)
		if err != nil {
			return nil, fmt.Errorf("klaviyotest: load %s: %w", f, err)
		}
		if err := doc.Validate(context.Background()); err != nil {
			return nil, fmt.Errorf("klaviyotest: %s is not a valid OpenAPI document: %w", f, err)
		}
		body, err := requestBody(doc)
		if err != nil {
			return nil, fmt.Errorf("klaviyotest: %s: %w", f, err)
		}
		s.bodies[f] = body
	}
	return s, nil
}

// requestBody is the JSON:API request body schema of the slice's single
// POST or PATCH operation.
func requestBody(doc *openapi3.T) (*openapi3.Schema, error) {
	var found []*openapi3.Schema
	for _, item := range doc.Paths.Map() {
		for _, op := range []*openapi3.Operation{item.Post, item.Patch} {
			if op == nil || op.RequestBody == nil || op.RequestBody.Value == nil {
				continue
			}
			if mt := op.RequestBody.Value.Content.Get(sliceBodyType); mt != nil && mt.Schema != nil && mt.Schema.Value != nil {
				found = append(found, mt.Schema.Value)
			}
		}
	}
	switch len(found) {
	case 0:
		return nil, errors.New("no POST or PATCH " + sliceBodyType + " request body schema")
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%d request body schemas; a slice describes one endpoint", len(found))
}

// Files lists the slices loaded, sorted.
func (s *Schemas) Files() []string {
	out := make([]string, 0, len(s.bodies))
	for f := range s.bodies {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
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
