// Package signature decides whether a commit is signed by a trusted key:
// OpenPGP signatures (gpg) with github.com/ProtonMail/go-crypto, the
// library go-git uses, and SSH signatures (git's gpg.format=ssh) with
// github.com/hiddeco/sshsig in git's "git" namespace.
//
// The trusted keys file may hold armored OpenPGP public key blocks and SSH
// allowed-signers lines ("principal ssh-ed25519 AAAA... [comment]", the
// format of git's gpg.ssh.allowedSignersFile, without options), in any
// order; '#' starts a comment line.
package signature

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// ErrUnsigned: the commit carries no signature.
var ErrUnsigned = errors.New("the commit is not signed")

// Trusted is a set of trusted keys.
type Trusted struct {
	pgp openpgp.EntityList
	ssh map[string]string // SHA256 fingerprint → principal
}

// Signer names who signed.
type Signer struct {
	Kind        string // pgp | ssh
	Identity    string // the key's user ID, or the allowed signer's principal
	Fingerprint string
}

// LoadTrusted reads a trusted keys file.
func LoadTrusted(path string) (*Trusted, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trusted keys: %w", err)
	}
	return ParseTrusted(b)
}

// ParseTrusted parses a trusted keys file's content.
func ParseTrusted(b []byte) (*Trusted, error) {
	t := &Trusted{ssh: map[string]string{}}
	var pgpBlock bytes.Buffer
	inPGP := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trim := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trim, "-----BEGIN PGP PUBLIC KEY BLOCK-----"):
			inPGP = true
			pgpBlock.Reset()
			pgpBlock.WriteString(line + "\n")
		case inPGP:
			pgpBlock.WriteString(line + "\n")
			if strings.HasPrefix(trim, "-----END PGP PUBLIC KEY BLOCK-----") {
				inPGP = false
				ents, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(pgpBlock.Bytes()))
				if err != nil {
					return nil, fmt.Errorf("trusted keys: line %d: OpenPGP key block: %w", n, err)
				}
				t.pgp = append(t.pgp, ents...)
			}
		case trim == "" || strings.HasPrefix(trim, "#"):
		default:
			fields := strings.Fields(trim)
			if len(fields) < 3 {
				return nil, fmt.Errorf("trusted keys: line %d: want \"principal key-type base64-key\"", n)
			}
			pub, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(strings.Join(fields[1:], " ")))
			if err != nil {
				return nil, fmt.Errorf("trusted keys: line %d: %w", n, err)
			}
			if len(opts) > 0 {
				// namespaces=, valid-after=, cert-authority... would
				// restrict the key; ignoring them would trust it more.
				return nil, fmt.Errorf("trusted keys: line %d: allowed-signers options (%s) are not supported: write \"principal key-type base64-key\"", n, strings.Join(opts, ","))
			}
			t.ssh[ssh.FingerprintSHA256(pub)] = fields[0]
		}
	}
	if inPGP {
		return nil, errors.New("trusted keys: an OpenPGP key block is not closed")
	}
	if len(t.pgp) == 0 && len(t.ssh) == 0 {
		return nil, errors.New("trusted keys: the file holds no key")
	}
	return t, nil
}

// Verify checks signature (a commit's raw gpgsig header) over payload (the
// commit without it) against the trusted keys.
func (t *Trusted) Verify(signature string, payload []byte) (Signer, error) {
	sig := strings.TrimSpace(signature)
	switch {
	case sig == "":
		return Signer{}, ErrUnsigned
	case strings.HasPrefix(sig, "-----BEGIN PGP SIGNATURE-----"):
		ent, err := openpgp.CheckArmoredDetachedSignature(t.pgp, bytes.NewReader(payload), strings.NewReader(sig), nil)
		if err != nil {
			return Signer{}, fmt.Errorf("OpenPGP signature not valid for a trusted key: %w", err)
		}
		s := Signer{Kind: "pgp", Fingerprint: fmt.Sprintf("%X", ent.PrimaryKey.Fingerprint)}
		for name := range ent.Identities {
			s.Identity = name
			break
		}
		return s, nil
	case strings.HasPrefix(sig, "-----BEGIN SSH SIGNATURE-----"):
		parsed, err := sshsig.Unarmor([]byte(sig))
		if err != nil {
			return Signer{}, fmt.Errorf("SSH signature: %w", err)
		}
		fp := ssh.FingerprintSHA256(parsed.PublicKey)
		principal, ok := t.ssh[fp]
		if !ok {
			return Signer{}, fmt.Errorf("SSH signature by key %s, which is not an allowed signer", fp)
		}
		if err := sshsig.Verify(bytes.NewReader(payload), parsed, parsed.PublicKey, parsed.HashAlgorithm, "git"); err != nil {
			return Signer{}, fmt.Errorf("SSH signature by %s (%s) not valid: %w", principal, fp, err)
		}
		return Signer{Kind: "ssh", Identity: principal, Fingerprint: fp}, nil
	}
	return Signer{}, errors.New("unknown signature format (neither OpenPGP nor SSH)")
}
