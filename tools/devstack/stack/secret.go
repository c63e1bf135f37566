package stack

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const identitySecretFile = "identity.secret"

// identitySecret is the key the gateway signs identity headers with and every service
// verifies them with. IDENTITY_SECRET wins; otherwise a random 32-byte key is made once
// and kept in the data directory, so sessions and signed headers stay valid across
// restarts of the stack.
func identitySecret(dataDir string, getenv func(string) string) (string, error) {
	if v := getenv("IDENTITY_SECRET"); v != "" {
		return v, nil
	}
	path := filepath.Join(dataDir, identitySecretFile)
	if b, err := os.ReadFile(path); err == nil {
		secret := strings.TrimSpace(string(b))
		if secret == "" {
			return "", fmt.Errorf("stack: identity secret %s is empty; delete it to make a new one", path)
		}
		return secret, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("stack: read identity secret: %w", err)
	}

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("stack: make identity secret: %w", err)
	}
	secret := hex.EncodeToString(key)
	// O_EXCL: two stacks racing on a fresh data dir must not each keep a different key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return identitySecret(dataDir, getenv)
	}
	if err != nil {
		return "", fmt.Errorf("stack: write identity secret: %w", err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("stack: write identity secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("stack: write identity secret: %w", err)
	}
	return secret, nil
}
