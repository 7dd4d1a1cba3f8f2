package klaviyotest

import (
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// embeddedSlices is the embedded folder as a MapFS the tests can break.
func embeddedSlices(t *testing.T) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(openapiFS, sliceDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(openapiFS, p)
		m[path.Base(p)] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEmbeddedSlicesLoad(t *testing.T) {
	s, err := LoadSchemas()
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Files(); !slices.Equal(got, slices.Sorted(slices.Values(SliceFiles))) {
		t.Errorf("loaded %v, want %v", got, SliceFiles)
	}
	// Every vendored slice is loaded: a file added to the folder but not
	// to SliceFiles would be dead weight that looks like a check.
	for name := range embeddedSlices(t) {
		if strings.HasSuffix(name, ".json") && !slices.Contains(SliceFiles, name) {
			t.Errorf("%s is vendored but not in SliceFiles", name)
		}
	}
}

func TestBrokenSlicesFail(t *testing.T) {
	tests := []struct {
		name   string
		damage func(fstest.MapFS)
		want   string
	}{
		{"missing slice", func(m fstest.MapFS) { delete(m, SliceEvent) }, SliceEvent},
		{"not JSON", func(m fstest.MapFS) { m[SliceBulkEvents] = &fstest.MapFile{Data: []byte(`{"openapi":`)} }, SliceBulkEvents},
		{"unreadable", func(m fstest.MapFS) { m[SliceClientProfile] = &fstest.MapFile{Mode: fs.ModeDir} }, SliceClientProfile},
		{"no request body", func(m fstest.MapFS) {
			m[SliceProfileDeletion] = &fstest.MapFile{Data: []byte(`{"openapi":"3.0.2","info":{"title":"x","version":"1"},"paths":{}}`)}
		}, "no POST or PATCH"},
		{"no licence", func(m fstest.MapFS) { delete(m, sliceLicence) }, "licence"},
		{"another licence", func(m fstest.MapFS) { m[sliceLicence] = &fstest.MapFile{Data: []byte("All rights reserved")} }, "MIT"},
	}
	if _, err := loadSchemas(embeddedSlices(t), SliceFiles); err != nil {
		t.Fatalf("the intact copy does not load: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := embeddedSlices(t)
			tt.damage(m)
			s, err := loadSchemas(m, SliceFiles)
			if err == nil || s != nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("loadSchemas = %v, %v; want an error naming %q", s, err, tt.want)
			}
		})
	}
}
