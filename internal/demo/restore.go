package demo

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// handleRestore serves GET /demo/cart/restore?items=id:qty,...&cart=ID,
// the shop's end of a cart restore link (snippetd's SNIPPETD_CART_RESTORE_URL
// points here by default): it rebuilds the cart cookie from the lines,
// keeps the cart id, and shows the cart. Each id in items is
// percent-encoded (the value was decoded once already, as the query
// string); unknown products and bad quantities are dropped, as the cart
// cookie's are.
func (s *Shop) handleRestore(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var lines []Line
	for _, pair := range strings.Split(q.Get("items"), ",") {
		i := strings.LastIndexByte(pair, ':')
		if i < 0 {
			continue
		}
		id, err := url.PathUnescape(pair[:i])
		n, nerr := strconv.ParseInt(pair[i+1:], 10, 64)
		if _, known := Find(id); err != nil || nerr != nil || !known || n < 1 {
			continue
		}
		lines = AddLine(lines, id, min(n, MaxQuantity))
	}
	setCookie(w, cartCookie, FormatCart(lines), 30*24*3600)
	if id := q.Get("cart"); id != "" && len(id) <= 64 && !strings.ContainsAny(id, ";, \"\\") {
		setCookie(w, cartIDCookie, id, 30*24*3600)
	}
	http.Redirect(w, r, "/demo/cart", http.StatusSeeOther)
}
