package orders_test

import (
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/shop"
)

func TestTimesWithoutZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		loc  *time.Location
		want time.Time
	}{
		{"2022-11-08T00:00:00Z", berlin, time.Date(2022, 11, 8, 0, 0, 0, 0, time.UTC)},
		{"2022-11-08T10:00:00+02:00", nil, time.Date(2022, 11, 8, 8, 0, 0, 0, time.UTC)},
		{"2022-11-08T00:00:00", nil, time.Date(2022, 11, 8, 0, 0, 0, 0, time.UTC)},
		{"2022-11-08T00:00:00", berlin, time.Date(2022, 11, 7, 23, 0, 0, 0, time.UTC)},
		{"2022-07-08T12:30:15.250", berlin, time.Date(2022, 7, 8, 10, 30, 15, 250e6, time.UTC)},
		{"2022-11-08", berlin, time.Date(2022, 11, 7, 23, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		var o shop.Order
		if err := orders.Decode([]byte(`{"placed_at":"`+tt.in+`"}`), &o, tt.loc); err != nil || !o.PlacedAt.Equal(tt.want) {
			t.Errorf("%s in %v: %v, %v; want %v", tt.in, tt.loc, o.PlacedAt.UTC(), err, tt.want)
		}
	}
	for _, c := range []struct{ body, field string }{
		{`{"placed_at":"08/11/2022"}`, "placed_at"},
		{`{"placed_at":"2022-13-01"}`, "placed_at"},
		{`{"placed_at":1667865600}`, "placed_at"},
		{`{"placed_at":"2022-11-08 00:00:00"}`, "placed_at"},
		{`{"order":{"placed_at":"yesterday"}}`, "order.placed_at"},
		{`{"time":"2022-11-08T25:00:00"}`, "time"},
	} {
		var a orders.Action
		var v any = &a
		if strings.Contains(c.body, "placed_at\":") && !strings.Contains(c.body, "order") {
			v = &shop.Order{}
		}
		err := orders.Decode([]byte(c.body), v, nil)
		if apperr.ErrorCode(err) != apperr.EINVALID || apperr.ErrorField(err) != c.field || !strings.Contains(apperr.ErrorMessage(err), "ISO 8601") {
			t.Errorf("%s: %v; want 422 naming %s", c.body, err, c.field)
		}
	}
}

func TestBackfillTimes(t *testing.T) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	jsonl := `{"id":"1","placed_at":"2022-11-08T09:00:00","customer":{"email":"a@example.com"},"items":[{"product":{"id":"p","name":"P","price":1},"quantity":1}]}
{"id":"2","placed_at":"2022-11-08","customer":{"email":"a@example.com"},"items":[{"product":{"id":"p","name":"P","price":1},"quantity":1}]}
{"id":"3","placed_at":"8 Nov 2022","customer":{"email":"a@example.com"},"items":[{"product":{"id":"p","name":"P","price":1},"quantity":1}]}
`
	in, err := orders.ReadOrders(strings.NewReader(jsonl), "auto", tokyo)
	if err != nil || len(in) != 3 {
		t.Fatalf("%v %v", in, err)
	}
	if want := time.Date(2022, 11, 8, 0, 0, 0, 0, time.UTC); !in[0].Order.PlacedAt.Equal(want) || in[0].Err != nil {
		t.Errorf("line 1: %v %v", in[0].Order.PlacedAt, in[0].Err)
	}
	if want := time.Date(2022, 11, 7, 15, 0, 0, 0, time.UTC); !in[1].Order.PlacedAt.Equal(want) || in[1].Err != nil {
		t.Errorf("line 2: %v %v", in[1].Order.PlacedAt, in[1].Err)
	}
	if apperr.ErrorField(in[2].Err) != "placed_at" || apperr.ErrorCode(in[2].Err) != apperr.EINVALID || in[2].Line != 3 {
		t.Errorf("line 3: %v", in[2].Err)
	}
	var out strings.Builder
	sum, _ := (&orders.Backfill{DryRun: true}).Run(t.Context(), in)
	sum.Write(&out)
	if !strings.Contains(out.String(), "line 3, order 3: unreadable: placed_at: must be an ISO 8601") {
		t.Errorf("summary does not name line 3's placed_at:\n%s", out.String())
	}

	csv := "order_id,placed_at,email,product_id,product_name,price,quantity\n1,2022-11-08T09:00:00,a@example.com,p,P,1,1\n2,11/08/2022,a@example.com,p,P,1,1\n"
	in, err = orders.ReadOrders(strings.NewReader(csv), "csv", tokyo)
	if err != nil || len(in) != 2 || !in[0].Order.PlacedAt.Equal(time.Date(2022, 11, 8, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("csv: %+v %v", in, err)
	}
	if apperr.ErrorField(in[1].Err) != "placed_at" || apperr.ErrorCode(in[1].Err) != apperr.EINVALID {
		t.Errorf("csv line 3: %v", in[1].Err)
	}
}
