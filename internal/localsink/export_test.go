package localsink

// SetMaxBytes lowers a Sink's memory cap for tests.
func SetMaxBytes(s *Sink, n int64) { s.maxBytes = n }
