package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/outbox"
)

// TestOutboxStatusCountsJobs: `snippetd outbox status` counts the stored
// consent jobs by kind and state, in text and in -json.
func TestOutboxStatusCountsJobs(t *testing.T) {
	ctx := context.Background()
	env := map[string]string{"SNIPPETD_DATA_DIR": t.TempDir()}
	d, err := db.Open(ctx, env["SNIPPETD_DATA_DIR"], "")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ob, err := outbox.Open(ctx, d, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close(context.Background())
	if _, err := ob.EnqueueJobs(ctx, []outbox.Job{
		{Kind: outbox.JobSubscribe, Group: `{"list":"AbC123"}`, ProfileKey: "email:a@example.com", Payload: []byte(`{"email":"a@example.com"}`)},
		{Kind: outbox.JobSubscribe, Group: `{"list":"AbC123"}`, ProfileKey: "email:b@example.com", Payload: []byte(`{"email":"b@example.com"}`)},
		{Kind: outbox.JobBackInStock, ProfileKey: "email:a@example.com", Payload: []byte(`{}`)},
	}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		var out, errb bytes.Buffer
		if err := outboxCmd(ctx, args, func(k string) string { return env[k] }, &out, &errb); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	text := run("status")
	for _, want := range []string{"subscribe jobs pending 2, delivered 0, dead 0", "back_in_stock jobs pending 1, delivered 0, dead 0"} {
		if !strings.Contains(strings.Join(strings.Fields(text), " "), want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "profile jobs") {
		t.Errorf("status lists a kind with no job:\n%s", text)
	}
	var v struct {
		Jobs map[string]map[string]int64 `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(run("status", "-json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Jobs["subscribe"]["pending"] != 2 || v.Jobs["back_in_stock"]["pending"] != 1 || len(v.Jobs) != 2 {
		t.Errorf("status -json jobs %v", v.Jobs)
	}
}
