//! The protobuf codec every generated client and server of the suite uses:
//! prost's, with small first buffers. tonic's default starts each call's
//! encode and decode buffers at 8 KiB; the suite holds thousands of streams
//! open at once (`channel.scale-10k-streams`: 10,000 on each side), and
//! those buffers were 160 MiB of the reference server's memory and as much
//! of the harness's, for messages of a few dozen bytes. A buffer grows when
//! a message needs more, so larger messages only pay a reallocation.

use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// First size of a call's encode and decode buffers, in bytes.
pub const BUFFER_SIZE: usize = 256;

/// Bytes encoded before a stream yields to the runtime (tonic's default).
const YIELD_THRESHOLD: usize = 32 * 1024;

/// prost's codec with [`BUFFER_SIZE`] first buffers (`tonic_prost_build`'s
/// `codec_path` names it, so generated code calls `SmallCodec::default()`).
#[derive(Debug)]
pub struct SmallCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for SmallCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

fn settings() -> BufferSettings {
    BufferSettings::new(BUFFER_SIZE, YIELD_THRESHOLD)
}

impl<T, U> Codec for SmallCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(settings())
    }
}
