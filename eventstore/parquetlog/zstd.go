package parquetlog

import (
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
)

// zstdCodec is Parquet's ZSTD codec at zstd's default level with a window
// of one page: a page is compressed on its own, so a larger window (the
// default, 8 MiB) finds nothing more and costs every encoder twice its size
// in memory. It is safe for concurrent use; at most maxEncoders compress at
// once.
type zstdCodec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

// maxEncoders is how many pages compress at once, one per Writer writing.
const maxEncoders = 2

// pageWindow is the zstd window: the writer's pages are at most 256 KiB.
const pageWindow = 256 << 10

var codec = newZstdCodec()

func newZstdCodec() *zstdCodec {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithWindowSize(pageWindow),
		zstd.WithEncoderConcurrency(maxEncoders), zstd.WithLowerEncoderMem(true), zstd.WithZeroFrames(true), zstd.WithEncoderCRC(false))
	if err != nil {
		panic(err) // the options are constant and valid
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		panic(err)
	}
	return &zstdCodec{enc: enc, dec: dec}
}

func (*zstdCodec) String() string                            { return "ZSTD" }
func (*zstdCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }

// Encode returns src compressed, in dst's storage when it is large enough.
func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	return c.enc.EncodeAll(src, dst[:0]), nil
}

// Decode returns src decompressed, in dst's storage when it is large enough.
func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error) { return c.dec.DecodeAll(src, dst[:0]) }
