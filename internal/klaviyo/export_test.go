package klaviyo

// ParseCanonical exposes ParseEvent's fast path, so tests can check that
// AppendJSON's output takes it.
var ParseCanonical = parseCanonical

// The json.Marshal encoders that EncodeEvent and EncodeBulk must equal.
var (
	EncodeEventReflect = encodeEventReflect
	EncodeBulkReflect  = encodeBulkReflect
)
