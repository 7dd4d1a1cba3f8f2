package shop

import (
	"testing"
	"time"
)

// The validators return a *FieldError naming the offending value by its
// JSON path, with the caller's prefix.
func TestValidateNamesField(t *testing.T) {
	p := Product{ID: "p", Name: "Mug", Price: Cents(1999)}
	line := LineItem{Product: p, Quantity: 1}
	tests := []struct {
		name  string
		err   error
		field string
	}{
		{"valid cart", Cart{ID: "c", Items: []LineItem{line}}.Validate("cart"), ""},
		{"second line without a price", Cart{ID: "c", Items: []LineItem{line, {Product: Product{ID: "q", Name: "n"}, Quantity: 1}}}.Validate("cart"), "cart.items[1].product.price"},
		{"no lines", Cart{ID: "c"}.Validate("cart"), "cart.items"},
		{"zero quantity", LineItem{Product: p}.Validate("added"), "added.quantity"},
		{"no identifier", Customer{FirstName: "Ann"}.Validate("customer"), "customer"},
		{"order without prefix", Order{ID: "o", PlacedAt: time.Unix(1, 0), Customer: Customer{Email: "a@b"}, Items: []LineItem{line}, Total: Cents(-1)}.Validate(""), "total"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.field == "" {
				if tt.err != nil {
					t.Fatalf("err = %v, want nil", tt.err)
				}
				return
			}
			if _, ok := tt.err.(*FieldError); !ok {
				t.Fatalf("err = %#v, want a *FieldError", tt.err)
			}
			if got := fieldOf(tt.err); got != tt.field {
				t.Errorf("field = %q, want %q (%v)", got, tt.field, tt.err)
			}
		})
	}
}
