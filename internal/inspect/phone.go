package inspect

import "encoding/json"

// StatePhoneDropped is the state of a phone number left out of a profile
// because it could not be put in E.164 form (the event itself went on
// with another identifier, or was refused when the phone was its only
// one). Its row's source is where the number came from ("render",
// "proxy", "orders") and its payload ["phoneDropped", {"field","number"}].
const StatePhoneDropped = "phone_dropped"

// maxDroppedPhoneBytes bounds the number text a row keeps: anything
// longer is not a phone number anyone needs to read in full.
const maxDroppedPhoneBytes = 64

// RecordPhoneDropped adds a row for a phone number that source left out
// of a profile: field is its JSON path in the request, number the text as
// sent, so that whoever reads the inspector sees which number to fix (or
// that SNIPPETD_DEFAULT_COUNTRY is missing).
func (r *Ring) RecordPhoneDropped(source, field, number string) {
	if len(number) > maxDroppedPhoneBytes {
		number = number[:maxDroppedPhoneBytes]
	}
	push, _ := json.Marshal([]any{"phoneDropped", map[string]string{"field": field, "number": number}})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add("", source, StatePhoneDropped, push, "", false)
	r.notify()
}
