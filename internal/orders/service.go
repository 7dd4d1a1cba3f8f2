package orders

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/shop"
)

// Publisher takes a request's events towards Klaviyo: the seam between the
// orders API and delivery, which the outbox's Producer fills (an enqueue;
// 202 means committed). Publish returns a *apperr.Error safe for clients.
type Publisher interface {
	Publish(ctx context.Context, events []klaviyo.Event) error
}

// EncodedPublisher is a Publisher that also takes events already checked
// and encoded (encs[i] is klaviyo.Encode's result for events[i]), so that
// the Service, which must check them before it stores anything, hands over
// the bytes instead of having them checked and encoded again (the outbox).
type EncodedPublisher interface {
	Publisher
	PublishEncoded(ctx context.Context, events []klaviyo.Event, encs []klaviyo.Encoded) error
}

// Service is the orders use cases behind the HTTP API.
type Service struct {
	Store *Store
	// Publisher is nil when no Klaviyo sender is configured: requests are
	// still validated, then answered 503.
	Publisher Publisher
	// Now is the clock (tests inject it).
	Now func() time.Time
	// Defaults fill in what an order leaves out (country for national
	// phone numbers, time zone, currency).
	Defaults Defaults
	// PhonesDropped, when set, counts phone numbers that could not be
	// normalised and were left out of the profile.
	PhonesDropped func(n int)
	// Consent stores the subscriptions of orders' marketing_consent.
	Consent ConsentSink
	// PhoneDropped, when set, is shown each number left out with its
	// field and the text as sent (the inspector).
	PhoneDropped func(field, number string)
}

// prepare runs Prepare and counts what it dropped.
func (s *Service) prepare(o shop.Order, field string) (shop.Order, error) {
	in := o
	o, dropped, err := Prepare(o, s.Defaults, field)
	if len(dropped) > 0 && s.PhonesDropped != nil {
		s.PhonesDropped(len(dropped))
	}
	if s.PhoneDropped != nil {
		for _, f := range dropped {
			s.PhoneDropped(f, phoneAt(in, f, field))
		}
	}
	return o, err
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

var errNoSender = &apperr.Error{Code: apperr.EUNAVAILABLE,
	Message: "no Klaviyo sender is configured (set SNIPPETD_PRIVATE_KEY): the request is valid but was not accepted; send it again once configured"}

// validateEvents checks every event against Klaviyo's limits before
// anything is stored, so that an order Klaviyo would reject gets a 422
// naming the field now and leaves no order behind (a corrected resend is
// not a conflict). It is the events' one check: it returns their
// encodings, which publish hands over as they are.
func (s *Service) validateEvents(evs []klaviyo.Event) ([]klaviyo.Encoded, error) {
	encs := make([]klaviyo.Encoded, len(evs))
	for i, e := range evs {
		enc, err := klaviyo.Encode(e, s.now())
		if err != nil {
			err = klaviyo.FieldError(err)
			if fe, ok := err.(*apperr.Error); ok {
				return nil, apperr.FieldErrorf(fmt.Sprintf("(%s event).%s", e.Metric, fe.Field), "%s", fe.Message)
			}
			return nil, err
		}
		encs[i] = enc
	}
	return encs, nil
}

// publish hands the checked events to the Publisher, with their encodings
// when it takes them.
func (s *Service) publish(ctx context.Context, evs []klaviyo.Event, encs []klaviyo.Encoded) error {
	if p, ok := s.Publisher.(EncodedPublisher); ok {
		return p.PublishEncoded(ctx, evs, encs)
	}
	return s.Publisher.Publish(ctx, evs)
}

// Place validates o, stores it, and publishes Placed Order and its Ordered
// Product events; it returns their unique ids. Posting the same order
// again is a replay (same ids, events re-published, Klaviyo dedupes);
// posting different content under a known id is a conflict, because
// Klaviyo would keep the first Placed Order anyway.
func (s *Service) Place(ctx context.Context, o shop.Order) ([]string, error) {
	o, err := s.prepare(o, "")
	if err != nil {
		return nil, err
	}
	if err := o.Validate(""); err != nil {
		return nil, err
	}
	evs := PlacedEvents(o, false)
	encs, err := s.validateEvents(evs)
	if err != nil {
		return nil, err
	}
	if s.Publisher == nil {
		return nil, errNoSender
	}
	res, err := s.Store.PutOrder(ctx, o, s.now())
	if err != nil {
		return nil, err
	}
	if res == Conflict {
		return nil, &apperr.Error{Code: apperr.ECONFLICT, Field: "id", Message: fmt.Sprintf(
			"order %s was already placed with different content; Klaviyo keeps the first Placed Order per order id", o.ID)}
	}
	if err := s.publish(ctx, evs, encs); err != nil {
		return nil, err
	}
	return UniqueIDs(evs), nil
}

// Act validates an action on order id (the action's own order, else the
// stored one; ENOTFOUND when neither) and publishes its event. The first
// action of a kind has unique_id = the order id; a further one needs its
// own "id" and gets ActionUniqueID. The same id with the same content is a
// replay (the same event again, which Klaviyo keeps once); with other
// content it is a conflict. A cancel or refund may not take more than the
// order holds after the earlier ones.
func (s *Service) Act(ctx context.Context, id string, k Kind, a Action) ([]string, error) {
	o, err := s.orderFor(ctx, id, a)
	if err != nil {
		return nil, err
	}
	if len(a.ID) > 255 || strings.ContainsFunc(a.ID, unicode.IsControl) {
		return nil, apperr.FieldErrorf("id", "must be at most 255 characters without control characters")
	}
	if err := ValidateAction(k, a, o); err != nil {
		return nil, err
	}
	if a, err = scaleAction(a, o); err != nil {
		return nil, err
	}
	// The hash is of the request as sent (without the order), so a retried
	// request without a time is recognised as the same action.
	hashed := a
	hashed.Order = nil
	hash := Hash(hashed)
	if a.Time.IsZero() {
		a.Time = s.now().UTC().Truncate(time.Second)
	}
	ev, err := ActionEvent(k, a, o, s.now())
	if err != nil {
		return nil, err
	}
	past, err := s.Store.Actions(ctx, id)
	if err != nil {
		return nil, err
	}
	uid, replay, err := actionUniqueID(id, k, a.ID, hash, past)
	if err != nil {
		return nil, err
	}
	ev.UniqueID = uid
	if !replay && k != Fulfilled {
		if left := remaining(o, past); ev.Value.Cmp(left) > 0 {
			field := "amount"
			if !a.Amount.IsSet() {
				field = "items"
			}
			return nil, apperr.FieldErrorf(field, "%s is more than order %s still holds (%s of %s after earlier cancels and refunds)",
				ev.Value, id, left, o.OrderTotal())
		}
	}
	evs := []klaviyo.Event{ev}
	encs, err := s.validateEvents(evs)
	if err != nil {
		return nil, err
	}
	if s.Publisher == nil {
		return nil, errNoSender
	}
	if a.Order != nil {
		if _, err := s.Store.PutOrder(ctx, o, s.now()); err != nil {
			return nil, err
		}
	}
	res, err := s.Store.PutAction(ctx, id, ActionRecord{Kind: k, ID: a.ID, Hash: hash, UniqueID: uid, Value: ev.Value}, s.now())
	if err != nil {
		return nil, err
	}
	if res == Conflict {
		return nil, &apperr.Error{Code: apperr.ECONFLICT, Field: "id", Message: fmt.Sprintf(
			"order %s got another %s event for this id at the same moment; send it again", id, k.Metric())}
	}
	if err := s.publish(ctx, evs, encs); err != nil {
		if res == New {
			// Not accepted: let a corrected request through later.
			s.Store.ForgetAction(context.WithoutCancel(ctx), id, k, a.ID)
		}
		return nil, err
	}
	return []string{ev.UniqueID}, nil
}

// actionUniqueID picks the unique_id of action actionID of kind k given
// the order's past actions, and tells whether it is a replay.
func actionUniqueID(orderID string, k Kind, actionID, hash string, past []ActionRecord) (uid string, replay bool, err error) {
	first := true
	for _, r := range past {
		if r.Kind != k {
			continue
		}
		if r.ID == actionID {
			if r.Hash == hash {
				return r.UniqueID, true, nil
			}
			if actionID == "" {
				return "", false, &apperr.Error{Code: apperr.ECONFLICT, Message: fmt.Sprintf(
					"order %s already has a different %s event; give each %s its own \"id\" (the platform's refund, cancellation or shipment id) so Klaviyo keeps both", orderID, k.Metric(), k)}
			}
			return "", false, &apperr.Error{Code: apperr.ECONFLICT, Field: "id", Message: fmt.Sprintf(
				"%s %q of order %s was already sent with different content", k, actionID, orderID)}
		}
		if r.UniqueID == orderID {
			first = false
		}
	}
	if first {
		return orderID, false, nil
	}
	if actionID == "" {
		return "", false, &apperr.Error{Code: apperr.ECONFLICT, Field: "id", Message: fmt.Sprintf(
			"order %s already has a %s event; a further one needs its own \"id\" (the platform's refund, cancellation or shipment id), else Klaviyo keeps only the first", orderID, k.Metric())}
	}
	return ActionUniqueID(orderID, k, actionID), false, nil
}

// Refunded and Cancelled sum the values of an order's past refunds and
// cancellations.
func sumValues(past []ActionRecord, k Kind) shop.Money {
	t := shop.Cents(0)
	for _, r := range past {
		if r.Kind == k {
			t = t.Add(r.Value)
		}
	}
	return t
}

// remaining is what order o still holds after its past cancels and
// refunds.
func remaining(o shop.Order, past []ActionRecord) shop.Money {
	return o.OrderTotal().Sub(sumValues(past, Refunded)).Sub(sumValues(past, Cancelled))
}

// Status is an order as GET /v1/orders/{id} shows it.
type Status struct {
	Order shop.Order `json:"order"`
	// Refunded and Cancelled are the cumulative values of the order's
	// refunds and cancellations; Remaining is the total minus both.
	Refunded  shop.Money     `json:"refunded"`
	Cancelled shop.Money     `json:"cancelled"`
	Remaining shop.Money     `json:"remaining"`
	Actions   []ActionStatus `json:"actions"`
}

// ActionStatus is one accepted action of an order.
type ActionStatus struct {
	Kind     Kind       `json:"kind"`
	ID       string     `json:"id,omitempty"`
	UniqueID string     `json:"unique_id"`
	Value    shop.Money `json:"value,omitzero"`
}

// Status returns the stored order id with its actions (ENOTFOUND when
// unknown).
func (s *Service) Status(ctx context.Context, id string) (Status, error) {
	o, ok, err := s.Store.Order(ctx, id)
	if err != nil {
		return Status{}, err
	}
	if !ok {
		return Status{}, apperr.Errorf(apperr.ENOTFOUND, "order %s is unknown", id)
	}
	past, err := s.Store.Actions(ctx, id)
	if err != nil {
		return Status{}, err
	}
	st := Status{Order: o, Refunded: sumValues(past, Refunded), Cancelled: sumValues(past, Cancelled), Remaining: remaining(o, past),
		Actions: []ActionStatus{}}
	for _, r := range past {
		st.Actions = append(st.Actions, ActionStatus{Kind: r.Kind, ID: r.ID, UniqueID: r.UniqueID, Value: r.Value})
	}
	return st, nil
}

func (s *Service) orderFor(ctx context.Context, id string, a Action) (shop.Order, error) {
	if a.Order != nil {
		if a.Order.ID != id {
			return shop.Order{}, apperr.FieldErrorf("order.id", "is %q but the URL names order %q", a.Order.ID, id)
		}
		o, err := s.prepare(*a.Order, "order")
		if err != nil {
			return o, err
		}
		if err := o.Validate("order"); err != nil {
			return shop.Order{}, err
		}
		return o, nil
	}
	o, ok, err := s.Store.Order(ctx, id)
	if err != nil {
		return o, err
	}
	if !ok {
		return o, apperr.Errorf(apperr.ENOTFOUND, "order %s is unknown: POST it to /v1/orders first, or include it as \"order\"", id)
	}
	// Orders stored before phones were normalised are normalised now.
	return s.prepare(o, "order")
}
