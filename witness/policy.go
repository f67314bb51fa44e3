package witness

import (
	"fmt"
	"os"
	"strings"

	"github.com/transparency-dev/tessera"
)

// Policy is a witness policy file (Sigsum's policy format, with
// cosignature/v1 verifier keys, as tessera reads it): the witnesses with
// their URLs, how they group and the quorum a checkpoint needs.
type Policy struct {
	group tessera.WitnessGroup
	// Witnesses are the policy's witnesses, to submit checkpoints to.
	Witnesses []Witness
}

// LoadPolicy reads a policy file.
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	g, err := tessera.NewWitnessGroupFromPolicy(b)
	if err != nil {
		return nil, fmt.Errorf("witness policy %s: %w", path, err)
	}
	p := &Policy{group: g}
	for url, v := range g.Endpoints() {
		p.Witnesses = append(p.Witnesses, Witness{Verifier: v, URL: strings.TrimSuffix(url, "/add-checkpoint")})
	}
	if len(p.Witnesses) == 0 {
		return nil, fmt.Errorf("witness policy %s names no witness", path)
	}
	return p, nil
}

// Satisfied reports whether a checkpoint's signed note carries the
// cosignatures of the policy's quorum.
func (p *Policy) Satisfied(signed []byte) bool { return p.group.Satisfied(signed) }
