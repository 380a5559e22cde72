package wallet

import "testing"

func TestCanonicalID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"01a210a3-acdc-7437-91c2-ac3023ba8324", "01a210a3-acdc-7437-91c2-ac3023ba8324", true},
		{"01A210A3-ACDC-7437-91C2-AC3023BA8324", "01a210a3-acdc-7437-91c2-ac3023ba8324", true},
		{"01a210A3-acdC-7437-91c2-Ac3023ba8324", "01a210a3-acdc-7437-91c2-ac3023ba8324", true},
		{"00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000", true},
		{"01a210a3acdc743791c2ac3023ba8324", "", false},       // no hyphens
		{"{01a210a3-acdc-7437-91c2-ac3023ba8324}", "", false}, // braces
		{"urn:uuid:01a210a3-acdc-7437-91c2-ac3023ba8324", "", false},
		{"01a210a3-acdc-7437-91c2-ac3023ba832g", "", false},
		{"01a210a3-acdc-7437-91c2_ac3023ba8324", "", false},
		{"01a210a3-acdc-7437-91c2-ac3023ba8324 ", "", false},
		{"", "", false},
		{"01a210a3-acdc-7437-91c2-ac3023ba832\u00e9", "", false},
	}
	for _, tt := range tests {
		got, ok := CanonicalID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("CanonicalID(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
