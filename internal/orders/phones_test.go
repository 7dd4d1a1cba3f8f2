package orders_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/shop"
)

// sqliteService is a Service on a fresh SQLite store with a recorder.
func sqliteService(t *testing.T) (*orders.Service, *recorder) {
	t.Helper()
	st, err := orders.OpenStore(context.Background(), dbtest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	return &orders.Service{Store: st, Publisher: rec, Now: func() time.Time { return now }}, rec
}

func TestPhonesNormalised(t *testing.T) {
	ctx := context.Background()
	svc, rec := sqliteService(t)
	dropped := 0
	svc.PhonesDropped = func(n int) { dropped += n }

	// National numbers read in the address's country (the seed's data).
	o := sampleOrder(t)
	o.Customer.PhoneNumber = "(555) 123-4567"
	if _, err := svc.Place(ctx, o); err != nil {
		t.Fatal(err)
	}
	placed := rec.got[0][0]
	if placed.Profile.PhoneNumber != "+15551234567" {
		t.Errorf("profile phone %q, want +15551234567", placed.Profile.PhoneNumber)
	}
	var props struct{ BillingAddress, ShippingAddress struct{ Phone string } }
	json.Unmarshal(placed.Properties, &props)
	if props.BillingAddress.Phone != "+15551234567" || props.ShippingAddress.Phone != "+15551234567" {
		t.Errorf("address phones %+v, want E.164", props)
	}
	if stored, _, _ := svc.Store.Order(ctx, o.ID); stored.Customer.PhoneNumber != "+15551234567" {
		t.Errorf("stored phone %q: the normalised order is stored", stored.Customer.PhoneNumber)
	}
	if _, err := svc.Place(ctx, o); err != nil {
		t.Errorf("replay of the national-number order: %v", err)
	}
	if dropped != 0 {
		t.Errorf("dropped %d, want 0", dropped)
	}

	// No country anywhere: dropped, counted, and the event still goes on the email.
	noCountry := sampleOrder(t)
	noCountry.ID = "no-country"
	noCountry.Customer.PhoneNumber = "5551234567"
	noCountry.Customer.Address, noCountry.BillingAddress, noCountry.ShippingAddress = nil, nil, nil
	if _, err := svc.Place(ctx, noCountry); err != nil {
		t.Fatal(err)
	}
	if p := rec.got[len(rec.got)-1][0].Profile; p.PhoneNumber != "" || p.Email == "" {
		t.Errorf("profile %+v: the phone must be left out, the email kept", p)
	}
	if dropped != 1 {
		t.Errorf("dropped %d, want 1", dropped)
	}

	// The phone as the only identifier: 422 naming it, nothing published.
	only := noCountry
	only.ID = "phone-only"
	only.Customer.Email = ""
	n := len(rec.got)
	_, err := svc.Place(ctx, only)
	if apperr.ErrorCode(err) != apperr.EINVALID || apperr.ErrorField(err) != "customer.phone_number" || !strings.Contains(apperr.ErrorMessage(err), "SNIPPETD_DEFAULT_COUNTRY") {
		t.Errorf("phone-only order: %v; want 422 on customer.phone_number", err)
	}
	if len(rec.got) != n {
		t.Errorf("a refused order was published")
	}
	// An impossible number in an inline order names the order's path.
	bad := only
	bad.Customer.PhoneNumber = "+1 12"
	if _, err := svc.Act(ctx, bad.ID, orders.Cancelled, orders.Action{Order: &bad}); apperr.ErrorField(err) != "order.customer.phone_number" {
		t.Errorf("inline order with an impossible phone: %v", err)
	}

	// SNIPPETD_DEFAULT_COUNTRY reads it.
	svc.Defaults.Country = "GB"
	only.Customer.PhoneNumber = "020 7946 0958"
	if _, err := svc.Place(ctx, only); err != nil {
		t.Fatal(err)
	}
	if p := rec.got[len(rec.got)-1][0].Profile.PhoneNumber; p != "+442079460958" {
		t.Errorf("phone %q with default country GB", p)
	}
}

func TestPreparePhonesPerAddress(t *testing.T) {
	o := shop.Order{Customer: shop.Customer{Email: "a@example.com", PhoneNumber: "030 123456"},
		BillingAddress:  &shop.Address{CountryCode: "DE", Phone: "030 123456"},
		ShippingAddress: &shop.Address{Country: "GB", Phone: "020 7946 0958"}}
	got, dropped, err := orders.Prepare(o, orders.Defaults{}, "")
	if err != nil || len(dropped) != 0 {
		t.Fatalf("%v %v", dropped, err)
	}
	if got.Customer.PhoneNumber != "+4930123456" || got.BillingAddress.Phone != "+4930123456" || got.ShippingAddress.Phone != "+442079460958" {
		t.Errorf("got %q %q %q", got.Customer.PhoneNumber, got.BillingAddress.Phone, got.ShippingAddress.Phone)
	}
	if o.BillingAddress.Phone != "030 123456" {
		t.Errorf("Prepare modified the caller's address")
	}
	o.ShippingAddress = &shop.Address{Phone: "call me"}
	_, dropped, err = orders.Prepare(o, orders.Defaults{}, "order")
	if err != nil || len(dropped) != 1 || dropped[0] != "order.shipping_address.phone" {
		t.Errorf("dropped %v, %v", dropped, err)
	}
}
