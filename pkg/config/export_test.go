package config

// For the external tests of decode.go.
var DecodeNetConf = decodeNetConf

// MemberNames are the names netConfMembers decodes.
func MemberNames() []string {
	var names []string
	for _, m := range netConfMembers {
		names = append(names, m.name)
	}
	return names
}

// CanonicalMember is the member name that k matches, "" if none.
func CanonicalMember(k string) string {
	if m := member(k); m != nil {
		return m.name
	}
	return ""
}
