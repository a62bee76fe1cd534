package config

// Hand-written checks rather than regexps: compiling a regexp at package
// init costs every plugin start, and a CNI plugin starts once per pod.

// isPCIAddr tells whether s is "dddd:bb:dd.f" with device 00-1f and
// function 0-7.
func isPCIAddr(s string) bool {
	if len(s) != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.' {
		return false
	}
	for _, i := range []int{0, 1, 2, 3, 5, 6, 8, 9} {
		if !isHex(s[i]) {
			return false
		}
	}
	return (s[8] == '0' || s[8] == '1') && s[11] >= '0' && s[11] <= '7'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// isSafeName tells whether s can name a file or an OVS bridge: 1 to max
// characters, an ASCII letter or digit first, then letters, digits, '_',
// '.' or '-'.
func isSafeName(s string, max int) bool {
	if len(s) == 0 || len(s) > max || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
