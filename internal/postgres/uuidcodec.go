package postgres

import (
	"errors"

	"github.com/jackc/pgx/v5/pgtype"
)

// The store passes ids as Go strings, and arrays of them as []string, to
// uuid and uuid[] parameters. pgx encodes uuid[] in binary first, and its
// UUID codec has no binary plan for a string, so every such array was
// first tried in binary, failed with an error that formatted the whole
// array (fmt's %#v), and was then sent as text: 6% of a worker's CPU in
// building those errors and 5% more in quoting the text (perf, uniform
// transfers), and Postgres parsed each element back. uuidStrings is
// pgx's codec with a binary plan for strings: a canonical id (36
// characters with dashes, or 32 hex digits) goes as its 16 bytes; any
// other string fails this plan, and pgx sends it as text, as before, for
// Postgres to accept or refuse.
type uuidStrings struct{ pgtype.UUIDCodec }

func (c uuidStrings) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(string); ok && format == pgtype.BinaryFormatCode {
		return encodeUUIDString{}
	}
	return c.UUIDCodec.PlanEncode(m, oid, format, value)
}

type encodeUUIDString struct{}

var errNotCanonicalUUID = errors.New("not a canonical uuid")

func (encodeUUIDString) Encode(value any, buf []byte) ([]byte, error) {
	u, ok := parseUUID(value.(string))
	if !ok {
		return nil, errNotCanonicalUUID
	}
	return append(buf, u[:]...), nil
}

// parseUUID reads xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx or 32 hex digits,
// in either case.
func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	dashes := len(s) == 36
	if !dashes && len(s) != 32 {
		return u, false
	}
	j := 0
	for i := range u {
		if dashes && (j == 8 || j == 13 || j == 18 || j == 23) {
			if s[j] != '-' {
				return u, false
			}
			j++
		}
		hi, lo := hexValue[s[j]], hexValue[s[j+1]]
		if hi|lo > 0x0f {
			return u, false
		}
		u[i] = hi<<4 | lo
		j += 2
	}
	return u, true
}

// hexValue is each byte's value as a hex digit, 0xff for any other byte.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c - '0'
	}
	for c := byte('a'); c <= 'f'; c++ {
		t[c], t[c-'a'+'A'] = c-'a'+10, c-'a'+10
	}
	return t
}()

// registerUUIDStrings puts uuidStrings in a connection's type map, for
// uuid and for uuid[].
func registerUUIDStrings(m *pgtype.Map) {
	t := &pgtype.Type{Name: "uuid", OID: pgtype.UUIDOID, Codec: uuidStrings{}}
	m.RegisterType(t)
	m.RegisterType(&pgtype.Type{Name: "_uuid", OID: pgtype.UUIDArrayOID, Codec: &pgtype.ArrayCodec{ElementType: t}})
}
