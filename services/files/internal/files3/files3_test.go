package files3

import "testing"

func TestParsePublicEndpoint(t *testing.T) {
	tests := []struct {
		in     string
		host   string
		secure bool
		ok     bool
	}{
		{"http://127.0.0.1:9000", "127.0.0.1:9000", false, true},
		{"https://media.example.com", "media.example.com", true, true},
		{"https://media.example.com/", "media.example.com", true, true},
		{"media.example.com", "", false, false},
		{"ftp://media.example.com", "", false, false},
		{"https://media.example.com/bucket", "", false, false},
		{"https://user:pw@media.example.com", "", false, false},
		{"https://media.example.com?x=1", "", false, false},
	}
	for _, tt := range tests {
		host, secure, err := ParsePublicEndpoint(tt.in)
		if (err == nil) != tt.ok || host != tt.host || secure != tt.secure {
			t.Errorf("ParsePublicEndpoint(%q) = %q, %v, %v", tt.in, host, secure, err)
		}
	}
}
