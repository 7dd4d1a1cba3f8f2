package app

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/inspect"
)

// The proxy reads a browser's national phone number in
// SNIPPETD_DEFAULT_COUNTRY; one that cannot be normalised is left out,
// counted in /metrics as source "proxy" and shown in the inspector, as a
// render identify's is as source "render".
func TestProxyPhonesDefaultCountryMetricsAndInspector(t *testing.T) {
	const token = "phones-test-token"
	m, fake := startProxyMainEnv(t, map[string]string{"SNIPPETD_DEFAULT_COUNTRY": "US", "SNIPPETD_API_TOKEN": token})
	base := m.Server.URL()
	post := func(path, body string) (int, httpx.ErrorBody) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Origin", "https://shop.example")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e httpx.ErrorBody
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e
	}

	// A national number alone: read in US, sent in E.164.
	if st, e := post("/s/i", `{"phone_number":"(201) 555-0123"}`); st != 202 {
		t.Fatalf("identify with a national number: %d %+v", st, e)
	}
	for deadline := time.Now().Add(20 * time.Second); len(fake.Events()) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the fake received nothing")
		}
	}
	if got := fake.Events()[0].Profile["phone_number"]; got != "+12015550123" {
		t.Errorf("profile phone_number = %v, want +12015550123", got)
	}

	// Not a number of anywhere, beside an email: left out, the event goes.
	if st, e := post("/s/e", `{"profile":{"email":"ann@example.com","phone_number":"12"},"events":[{"metric":"Viewed Product","properties":{"ProductName":"Mug"},"unique_id":"vp-1"}]}`); st != 202 {
		t.Fatalf("batch with a bad phone beside an email: %d %+v", st, e)
	}
	// As the only identifier: 422 naming the field.
	if st, e := post("/s/i", `{"phone_number":"12"}`); st != 422 || e.Error.Code != "invalid" || e.Error.Field != "phone_number" {
		t.Errorf("bad phone as the only identifier: %d %+v", st, e)
	}
	// A render identify drops one too.
	req, _ := http.NewRequest("POST", base+"/v1/render/identify", strings.NewReader(`{"customer":{"email":"bo@example.com","phone_number":"0"}}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("render identify: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// An order's too.
	if st, body := call(t, m, "/v1/orders", token, "application/json", strings.Replace(orderJSON, `"first_name":"Ann"`, `"first_name":"Ann","phone_number":"999"`, 1)); st != 202 {
		t.Fatalf("order: %d %s", st, body)
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{
		`snippetd_phone_numbers_dropped_total{source="proxy"} 1`,
		`snippetd_phone_numbers_dropped_total{source="render"} 1`,
		`snippetd_phone_numbers_dropped_total{source="orders"} 1`,
	} {
		if !strings.Contains(string(metricsText), line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}

	req, _ = http.NewRequest("GET", base+"/debug/events?state=phone_dropped", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Events []inspect.Event }
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	got := map[string]string{}
	for _, e := range list.Events {
		got[e.Source] = string(e.Payload)
	}
	want := map[string]string{
		"proxy":  `["phoneDropped",{"field":"profile.phone_number","number":"12"}]`,
		"render": `["phoneDropped",{"field":"customer.phone_number","number":"0"}]`,
		"orders": `["phoneDropped",{"field":"customer.phone_number","number":"999"}]`,
	}
	if len(got) != len(want) || got["proxy"] != want["proxy"] || got["render"] != want["render"] || got["orders"] != want["orders"] {
		t.Errorf("inspector rows = %v, want %v", got, want)
	}
}
