package catalog

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"hash/maphash"
	"io"
	"os"
	"slices"
	"sync"
	"time"
)

// DefaultPartBytes is the largest feed document served as one part:
// Klaviyo reads at most 100 MB per feed file.
const DefaultPartBytes = 100_000_000

// maxListed caps the products listed per problem group (the count is
// always exact).
const maxListed = 100

// idSeed hashes product ids for the in-memory index. Ids are compared by a
// 64-bit hash, 8 bytes per product; two different ids collide with a
// probability of about n²/2⁶⁵ (3·10⁻⁸ for a million products).
var idSeed = maphash.MakeSeed()

func idHash(id string) uint64 {
	if h := maphash.String(idSeed, id); h != 0 {
		return h
	}
	return 1 // idSet reserves 0
}

// Part is one numbered document of a feed split to stay under the part
// size. Part numbers start at 1.
type Part struct {
	Number int `json:"part"`
	// Products is how many products the part holds.
	Products int `json:"products"`
	// Bytes is the size of the part before compression.
	Bytes int64 `json:"bytes"`
	// first is the 0-based index of its first item; offset the byte
	// offset of that item's line in the format's snapshot file.
	first  int
	offset int64
}

// ProblemGroup is how many products were left out for one reason, with
// the first few of them.
type ProblemGroup struct {
	Count    int       `json:"count"`
	Products []Problem `json:"products"`
}

func (g *ProblemGroup) add(p Problem) {
	g.Count++
	if len(g.Products) < maxListed {
		g.Products = append(g.Products, p)
	}
}

// Snapshot is one loaded, validated version of the catalog: two private,
// already unlinked files of feed items (one JSON object per line, and the
// same items as one <Product> element per line), the
// part tables of both formats, the id index and the problems found. It is
// immutable; a reload builds a new one and swaps it in.
type Snapshot struct {
	files    [2]*os.File // per format: JSON lines, and the XML <Product> lines
	sizes    [2]int64
	count    int
	etag     string
	modified time.Time
	parts    [2][]Part
	whole    [2]int64 // size of the whole feed per format
	ids      []uint64 // sorted hashes of the served ids
	problems map[string]*ProblemGroup
	source   string
	// vfile holds the served products' variants, one JSON Variant per
	// line (vcount lines, vsize bytes), for the Catalog API sync.
	vfile  *os.File
	vsize  int64
	vcount int

	mu      sync.Mutex
	refs    int
	retired bool
}

// Count is the number of products served.
func (s *Snapshot) Count() int { return s.count }

// Modified is when the source last changed (Last-Modified).
func (s *Snapshot) Modified() time.Time { return s.modified }

// Parts lists the documents of the feed in f. There is always at least
// one part (an empty catalog is one empty document).
func (s *Snapshot) Parts(f Format) []Part { return s.parts[f] }

// ETag is the strong entity tag of part (0 for the whole feed) in f; a
// gzip-encoded response appends "-gzip".
func (s *Snapshot) ETag(f Format, part int, gzip bool) string {
	t := fmt.Sprintf(`"%s-%s-%d`, s.etag, f, part)
	if gzip {
		t += "-gzip"
	}
	return t + `"`
}

// Size is the uncompressed size of part (0 for the whole feed) in f.
func (s *Snapshot) Size(f Format, part int) int64 {
	if part == 0 {
		return s.whole[f]
	}
	return s.parts[f][part-1].Bytes
}

// Has reports whether the catalog serves a product with this id.
func (s *Snapshot) Has(id string) bool {
	_, ok := slices.BinarySearch(s.ids, idHash(id))
	return ok
}

func (s *Snapshot) retire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired = true
	if s.refs == 0 {
		s.files[JSON].Close()
		s.files[XML].Close()
		s.vfile.Close()
	}
}

// tryAcquire takes a reference unless the snapshot was already retired
// (its reader then loads the newer one).
func (s *Snapshot) tryAcquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retired {
		return false
	}
	s.refs++
	return true
}

func (s *Snapshot) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs--
	if s.retired && s.refs == 0 {
		s.files[JSON].Close()
		s.files[XML].Close()
		s.vfile.Close()
	}
}

// Write streams part (1-based; 0 for the whole feed) of the feed in f to
// w. It copies the snapshot's pre-encoded lines, so memory does not grow
// with the number of products and nothing is encoded per request.
func (s *Snapshot) Write(w io.Writer, f Format, part int) error {
	first, n, offset := 0, s.count, int64(0)
	if part > 0 {
		p := s.parts[f][part-1]
		first, n, offset = p.first, p.Products, p.offset
	}
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriterSize(w, 64<<10)
	}
	if f == XML {
		// The XML lines are the document's body as is: one byte range.
		bw.Write(xmlHeader)
		size := s.Size(XML, part) - int64(len(xmlHeader)+len(xmlFooter))
		if _, err := io.Copy(bw, io.NewSectionReader(s.files[XML], offset, size)); err != nil {
			return fmt.Errorf("catalog snapshot: %w", err)
		}
		bw.Write(xmlFooter)
		return bw.Flush()
	}
	if n == 0 {
		bw.Write(jsonEmpty)
		return bw.Flush()
	}
	bw.Write(jsonHeader)
	r := bufio.NewReaderSize(io.NewSectionReader(s.files[JSON], offset, s.sizes[JSON]-offset), 64<<10)
	var line []byte
	for i := 0; i < n; i++ {
		var err error
		line, err = readLine(r, line[:0])
		if err != nil {
			return fmt.Errorf("catalog snapshot item %d: %w", first+i, err)
		}
		if i > 0 {
			bw.Write(jsonSep)
		}
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	bw.Write(jsonFooter)
	return bw.Flush()
}

// Each calls fn for every served item in order, stopping at the first
// error.
func (s *Snapshot) Each(fn func(Item) error) error {
	r := bufio.NewReaderSize(io.NewSectionReader(s.files[JSON], 0, s.sizes[JSON]), 64<<10)
	var line []byte
	for i := 0; i < s.count; i++ {
		var err error
		if line, err = readLine(r, line[:0]); err != nil {
			return err
		}
		var it Item
		if err := json.Unmarshal(line, &it); err != nil {
			return err
		}
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

// readLine appends the next line of r (without its newline) to buf.
func readLine(r *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
		return buf[:len(buf)-1], nil
	}
}

// builder writes a snapshot while a source yields its products: it
// validates each, drops duplicates and problems, and lays out the parts
// of both formats.
type builder struct {
	files     [2]*os.File
	ws        [2]*bufio.Writer
	offsets   [2]int64
	sum       hash.Hash
	partBytes int64
	currency  string // the shop's, for the amounts' decimals
	count     int
	seen      idSet
	parts     [2][]Part
	cur       [2]Part
	curItems  [2]int64 // bytes of the current part's items
	allItems  [2]int64 // bytes of every item
	problems  map[string]*ProblemGroup
	line, xml []byte
	// The variants file and the variant ids seen (each belongs to one
	// product: Klaviyo's variant ids are catalog-wide).
	vfile  *os.File
	vw     *bufio.Writer
	voff   int64
	vcount int
	vseen  map[string]string
	vline  []byte
}

func newBuilder(dir string, partBytes int64) (*builder, error) {
	if partBytes <= 0 {
		partBytes = DefaultPartBytes
	}
	b := &builder{
		sum: sha256.New(), partBytes: partBytes,
		problems: map[string]*ProblemGroup{KindMissing: {}, KindDuplicate: {}, KindInvalid: {}},
	}
	for _, f := range Formats {
		file, err := os.CreateTemp(dir, "catalog-snapshot-*."+f.String())
		if err != nil {
			b.abort()
			return nil, err
		}
		// Unlink at once: the open descriptor keeps the data for as long
		// as a request reads it, and a crash leaves nothing behind.
		os.Remove(file.Name())
		b.files[f], b.ws[f] = file, bufio.NewWriterSize(file, 256<<10)
	}
	vf, err := os.CreateTemp(dir, "catalog-snapshot-*.variants")
	if err != nil {
		b.abort()
		return nil, err
	}
	os.Remove(vf.Name())
	b.vfile, b.vw, b.vseen = vf, bufio.NewWriterSize(vf, 64<<10), map[string]string{}
	for _, f := range Formats {
		b.cur[f] = Part{Number: 1}
	}
	return b, nil
}

// reject records a product left out.
func (b *builder) reject(kind string, p Problem) { b.problems[kind].add(p) }

// add validates p (at 1-based position pos in the source) and appends it
// to the snapshot unless it has a problem or repeats an earlier id.
func (b *builder) add(pos int, cp Product) error {
	p := cp.Product
	it, fprob := itemOf(cp)
	if kind, prob := it.check(); kind != "" {
		prob.Position = pos
		b.reject(kind, prob)
		return nil
	}
	if fprob != nil {
		fprob.Position = pos
		b.reject(KindInvalid, *fprob)
		return nil
	}
	if prob, bad := it.inCurrency(b.currency); bad {
		prob.Position = pos
		b.reject(KindInvalid, prob)
		return nil
	}
	if prob, bad := checkVariants(p); bad {
		prob.Position = pos
		b.reject(KindInvalid, prob)
		return nil
	}
	for i, v := range p.Variants {
		if other, dup := b.vseen[v.ID]; dup && other != it.ID {
			b.reject(KindInvalid, Problem{ID: it.ID, Position: pos, Field: fmt.Sprintf("variants[%d].id", i), Message: "repeats a variant id of product " + other})
			return nil
		}
	}
	if !b.seen.add(idHash(it.ID)) {
		b.reject(KindDuplicate, Problem{ID: it.ID, Position: pos, Field: "id", Message: "repeats the id of an earlier product (the first one is kept)"})
		return nil
	}
	for _, v := range variantsOf(p, it) {
		b.vseen[v.ID] = it.ID
		line, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.vline = append(append(b.vline[:0], line...), '\n')
		if _, err := b.vw.Write(b.vline); err != nil {
			return err
		}
		b.voff += int64(len(b.vline))
		b.vcount++
	}

	b.line = appendJSON(b.line[:0], it)
	b.xml = appendXML(b.xml[:0], it)
	for _, f := range Formats {
		n := int64(len(b.line))
		if f == XML {
			n = int64(len(b.xml))
		}
		cur := &b.cur[f]
		if cur.Products > 0 && docBytes(f, cur.Products+1, b.curItems[f]+n) > b.partBytes {
			cur.Bytes = docBytes(f, cur.Products, b.curItems[f])
			b.parts[f] = append(b.parts[f], *cur)
			*cur = Part{Number: cur.Number + 1}
			b.curItems[f] = 0
		}
		if cur.Products == 0 {
			cur.first, cur.offset = b.count, b.offsets[f]
		}
		cur.Products++
		b.curItems[f] += n
		b.allItems[f] += n
	}
	b.line = append(b.line, '\n')
	for f, data := range [2][]byte{b.line, b.xml} {
		if _, err := b.ws[f].Write(data); err != nil {
			return err
		}
		b.offsets[f] += int64(len(data))
	}
	b.sum.Write(b.line)
	b.count++
	return nil
}

// finish flushes the snapshot and returns it; modified is the source's
// change time.
func (b *builder) finish(source string, modified time.Time) (*Snapshot, error) {
	for _, w := range append(b.ws[:], b.vw) {
		if err := w.Flush(); err != nil {
			b.abort()
			return nil, err
		}
	}
	for _, f := range Formats {
		cur := b.cur[f]
		if cur.Products > 0 || len(b.parts[f]) == 0 {
			cur.Bytes = docBytes(f, cur.Products, b.curItems[f])
			b.parts[f] = append(b.parts[f], cur)
		}
	}
	ids := b.seen.sorted()
	return &Snapshot{
		files: b.files, sizes: b.offsets, count: b.count,
		etag:     hex.EncodeToString(b.sum.Sum(nil)[:12]),
		modified: modified.UTC().Truncate(time.Second),
		parts:    b.parts, ids: ids,
		whole: [2]int64{docBytes(JSON, b.count, b.allItems[JSON]), docBytes(XML, b.count, b.allItems[XML])}, problems: b.problems, source: source,
		vfile: b.vfile, vsize: b.voff, vcount: b.vcount,
	}, nil
}

func (b *builder) abort() {
	for _, f := range append(b.files[:], b.vfile) {
		if f != nil {
			f.Close()
		}
	}
}
