package wallet

// CanonicalID returns an identifier in the one form the service gives
// out, lower-case hex with hyphens (8-4-4-4-12), and whether id is such
// an identifier in any letter case. Identifiers are compared, hashed and
// cached in this form only, so an upper-cased id names the same wallet
// and makes the same request.
func CanonicalID(id string) (string, bool) {
	if len(id) != 36 {
		return "", false
	}
	b := []byte(id)
	for i, c := range b {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return "", false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			b[i] = c + ('a' - 'A')
		default:
			return "", false
		}
	}
	return string(b), true
}
