package http

import (
	"encoding/base64"
	"net/http"
	"strconv"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/tlog"
)

func (s *Server) handleCheckpoint(w http.ResponseWriter, r *http.Request) {
	c, err := s.store.LatestCheckpoint(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	note, err := tlog.WithCosignatures(r.Context(), s.store, c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", checkpointCache)
	w.Write(note)
}

func (s *Server) handleCheckpointKey(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(s.verifierKey + "\n"))
}

// publishedSize reads a tree size parameter that must name a published
// checkpoint; an empty one means the latest checkpoint.
func (s *Server) publishedSize(r *http.Request, param string) (*auditlog.Checkpoint, error) {
	v := r.URL.Query().Get(param)
	if v == "" {
		return s.store.LatestCheckpoint(r.Context())
	}
	size, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return nil, auditlog.FieldErrorf(param, "%s must be a whole number", param)
	}
	c, err := s.store.FindCheckpoint(r.Context(), size)
	if auditlog.ErrorCode(err) == auditlog.ENOTFOUND {
		return nil, auditlog.FieldErrorf(param, "no checkpoint was published for tree size %d; GET /api/v1/checkpoint gives the latest", size)
	}
	return c, err
}

func (s *Server) fetchNodes(r *http.Request) tlog.NodeFetcher {
	return func(ids []auditlog.NodeID) ([][]byte, error) { return s.store.TreeNodes(r.Context(), ids) }
}

type inclusionProof struct {
	LeafIndex uint64   `json:"leaf_index"`
	TreeSize  uint64   `json:"tree_size"`
	LeafHash  string   `json:"leaf_hash"`
	Hashes    []string `json:"hashes"`
}

func (s *Server) handleInclusionProof(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.fail(w, r, auditlog.FieldErrorf("id", "the activity id must be a positive whole number"))
		return
	}
	if err := onlyParams(r, "tree_size"); err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.publishedSize(r, "tree_size")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	index := uint64(id - 1)
	if index >= c.Size {
		if _, err := s.store.FindActivityByID(r.Context(), id); err != nil {
			s.fail(w, r, err)
			return
		}
		s.fail(w, r, auditlog.Errorf(auditlog.ENOTFOUND, "activity %d is not covered by the checkpoint of size %d; the next checkpoint covers it within a second", id, c.Size))
		return
	}
	hashes, err := tlog.InclusionProof(index, c.Size, s.fetchNodes(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	leaf, err := s.store.TreeNodes(r.Context(), []auditlog.NodeID{{Level: 0, Index: index}})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, inclusionProof{LeafIndex: index, TreeSize: c.Size, LeafHash: b64(leaf[0]), Hashes: b64s(hashes)})
}

type consistencyProof struct {
	From   uint64   `json:"from"`
	To     uint64   `json:"to"`
	Hashes []string `json:"hashes"`
}

func (s *Server) handleConsistencyProof(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r, "from", "to"); err != nil {
		s.fail(w, r, err)
		return
	}
	if r.URL.Query().Get("from") == "" {
		s.fail(w, r, auditlog.FieldErrorf("from", "from is required: the size of the checkpoint you hold"))
		return
	}
	from, err := s.publishedSize(r, "from")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	to, err := s.publishedSize(r, "to")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if from.Size > to.Size {
		s.fail(w, r, auditlog.FieldErrorf("from", "from (%d) is larger than to (%d)", from.Size, to.Size))
		return
	}
	hashes, err := tlog.ConsistencyProof(from.Size, to.Size, s.fetchNodes(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, consistencyProof{From: from.Size, To: to.Size, Hashes: b64s(hashes)})
}

// onlyParams refuses query parameters other than the allowed ones.
func onlyParams(r *http.Request, allowed ...string) error {
	for name := range r.URL.Query() {
		ok := false
		for _, a := range allowed {
			ok = ok || name == a
		}
		if !ok {
			return auditlog.FieldErrorf(name, "unknown query parameter %q", name)
		}
	}
	return nil
}

func b64(h []byte) string { return base64.StdEncoding.EncodeToString(h) }

func b64s(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = b64(h)
	}
	return out
}
