package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/orders"
)

// OrderAccepted is the 202 answer of the orders API: the unique_id of
// every event created, in the order they were published.
type OrderAccepted struct {
	OrderID   string   `json:"order_id"`
	UniqueIDs []string `json:"unique_ids"`
}

func (s *Server) writeAccepted(w http.ResponseWriter, id string, ids []string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(OrderAccepted{OrderID: id, UniqueIDs: ids})
}

var errNoOrders = apperr.Errorf(apperr.EUNAVAILABLE, "the orders API is not configured on this server")

// handleOrderCreate serves POST /v1/orders: the body is a shop.Order with
// an optional marketing_consent; the answer is 202 with the unique ids of
// Placed Order and each Ordered Product.
func (s *Server) handleOrderCreate(w http.ResponseWriter, r *http.Request) {
	if s.Orders == nil {
		httpx.Error(w, r, s.Logger, errNoOrders)
		return
	}
	body, err := httpx.ReadBody(w, r, s.MaxBodyBytes, "application/json")
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	var o orders.PlaceRequest
	if err := s.Orders.Decode(body, &o); err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	ids, err := s.Orders.PlaceWithConsent(r.Context(), o)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	s.writeAccepted(w, o.ID, ids)
}

// handleOrderAction serves POST /v1/orders/{id}/fulfilled|cancelled|refunded:
// the body is an orders.Action (time, reason, items, amount, tracking, and
// optionally the full order); an empty body means "the whole order, now".
func (s *Server) handleOrderAction(w http.ResponseWriter, r *http.Request) {
	if s.Orders == nil {
		httpx.Error(w, r, s.Logger, errNoOrders)
		return
	}
	vars := mux.Vars(r)
	kind, _ := orders.ParseKind(vars["action"])
	body, err := httpx.ReadBody(w, r, s.MaxBodyBytes, "application/json")
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	var a orders.Action
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := s.Orders.Decode(body, &a); err != nil {
			httpx.Error(w, r, s.Logger, err)
			return
		}
	}
	ids, err := s.Orders.Act(r.Context(), vars["id"], kind, a)
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	s.writeAccepted(w, vars["id"], ids)
}

// handleOrderGet serves GET /v1/orders/{id}: the stored order, its
// accepted actions with their unique_ids, and the cumulative refunded and
// cancelled values.
func (s *Server) handleOrderGet(w http.ResponseWriter, r *http.Request) {
	if s.Orders == nil {
		httpx.Error(w, r, s.Logger, errNoOrders)
		return
	}
	st, err := s.Orders.Status(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		httpx.Error(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(st)
}
