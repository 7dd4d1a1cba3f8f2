package app

import (
	"context"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/demo"
	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/inspect"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/shop"
	"github.com/snippetd/snippetd/web"
)

// newDemo builds the demo shop on the public packages plus what it needs
// of this server: the orders service, the inspector's ring and report
// handler, and the render metrics.
func (m *Main) newDemo(helpers *web.Helpers) *demo.Shop {
	key := m.Config.PublicKey
	if key == "" {
		key = demo.PublicKey
	}
	o := demo.Options{
		PublicKey: key,
		LocalSink: m.Sink != nil,
		Helpers:   helpers,
		Orders:    demoOrders{m.Orders},
		Rendered:  m.Inspector.Ring,
		Renders:   m.Metrics,
		Reports:   &inspect.ReportHandler{Ring: m.Inspector.Ring, Metrics: m.Metrics, Logger: m.Logger},
		Logger:    m.Logger,
	}
	if m.Config.Proxy {
		o.ProxyPrefix = m.Config.ProxyPrefix
	}
	if m.Consent != nil {
		o.Subscriber = demoSubscriber{m.Consent, m.Orders}
	}
	return demo.New(o)
}

// demoOrders is the orders service as the demo shop's Orders, with
// snippetd's errors turned into the shop's (same status, code, field and
// message as the API would answer).
type demoOrders struct{ svc *orders.Service }

func (d demoOrders) PlaceOrder(ctx context.Context, o shop.Order) error {
	_, err := d.svc.Place(ctx, o)
	return demoError(err)
}

func (d demoOrders) Order(ctx context.Context, id string) (shop.Order, bool, error) {
	o, ok, err := d.svc.Store.Order(ctx, id)
	return o, ok, demoError(err)
}

func demoError(err error) error {
	if e, ok := apperr.As(err); ok {
		return &demo.Error{Status: httpx.ErrorStatus(e), Code: e.Code, Message: e.Message, Field: e.Field}
	}
	return err
}
