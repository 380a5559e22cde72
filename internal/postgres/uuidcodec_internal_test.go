package postgres

import (
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestParseUUID(t *testing.T) {
	want := [16]byte{0x01, 0x9a, 0x2b, 0x3c, 0x4d, 0x5e, 0x6f, 0x70, 0x81, 0x92, 0xa3, 0xb4, 0xc5, 0xd6, 0xe7, 0xf8}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"019a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8", true},
		{"019A2B3C-4D5E-6F70-8192-A3B4C5D6E7F8", true},
		{"019a2b3c4d5e6f708192a3b4c5d6e7f8", true},
		{"{019a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8}", false}, // Postgres reads it, from text
		{"019a2b3c-4d5e-6f70-8192-a3b4c5d6e7f", false},
		{"019a2b3c+4d5e-6f70-8192-a3b4c5d6e7f8", false},
		{"019a2b3c-4d5e-6f70-8192-a3b4c5d6e7fg", false},
		{"", false},
	} {
		got, ok := parseUUID(tc.in)
		if ok != tc.ok || (ok && got != want) {
			t.Errorf("parseUUID(%q) = %x, %v; want %x, %v", tc.in, got, ok, want, tc.ok)
		}
	}
}

// With the stock codec a []string for uuid[] fails in binary (and pgx
// then builds an error formatting the whole array before it sends text);
// with uuidStrings it is encoded in binary, element by element.
func TestUUIDStringsEncodeInBinary(t *testing.T) {
	ids := []string{"019a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8", "FFFFFFFF-0000-4000-8000-000000000001"}
	if _, err := pgtype.NewMap().Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, ids, nil); err == nil {
		t.Log("the stock codec now encodes []string to uuid[] in binary; uuidStrings may be dropped")
	}
	m := pgtype.NewMap()
	registerUUIDStrings(m)
	buf, err := m.Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, ids, nil)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	var back []string
	if err := m.Scan(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, buf, &back); err != nil {
		t.Fatalf("scan: %v", err)
	}
	if want := []string{ids[0], "ffffffff-0000-4000-8000-000000000001"}; !slices.Equal(back, want) {
		t.Fatalf("round trip %v, want %v", back, want)
	}
	if _, err := m.Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, []string{"{" + ids[0] + "}"}, nil); err == nil {
		t.Fatal("a braced id encoded in binary; it must fail the plan and go as text")
	}
}
