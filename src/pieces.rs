//! Appending the short pieces that findings rows are made of (ids, dates,
//! names, JSON keys) without a call to the system's memcpy for each.

/// Appends `bytes` to `out`, as `extend_from_slice` does, but without a
/// call to the system's memcpy for a piece of 32 bytes or fewer. A row is
/// some forty such pieces (ids, dates, JSON keys): a billion at national
/// scale, where those calls were a tenth of the outputs phase's samples.
#[inline(always)]
pub fn push_piece(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    if n > 32 || out.capacity() - out.len() < 32 {
        out.extend_from_slice(bytes);
        return;
    }
    let len = out.len();
    let from = bytes.as_ptr();
    // SAFETY: at least 32 bytes of capacity follow `len`. Each copy reads
    // within bytes[..n] and writes within out[len..len + n] (two copies of
    // a fixed width no wider than n, one from each end, overlapping in the
    // middle); `bytes` cannot overlap `out`, which is borrowed mutably.
    // Afterwards out[len..len + n] is initialised, so the length may cover it.
    unsafe {
        let to = out.as_mut_ptr().add(len);
        let ends = |width: usize| {
            std::ptr::copy_nonoverlapping(from, to, width);
            std::ptr::copy_nonoverlapping(from.add(n - width), to.add(n - width), width);
        };
        match n {
            16..=32 => ends(16),
            8..=15 => ends(8),
            4..=7 => ends(4),
            2..=3 => ends(2),
            1 => *to = *from,
            _ => {}
        }
        out.set_len(len + n);
    }
}

/// [`push_piece`] for text.
#[inline(always)]
pub fn push_text(out: &mut String, text: &str) {
    // SAFETY: a whole `str` appended to a `String` leaves it UTF-8.
    unsafe { push_piece(out.as_mut_vec(), text.as_bytes()) }
}

#[cfg(test)]
mod tests {
    use super::push_piece;
    use proptest::prelude::*;

    proptest! {
        /// A piece appended whole is appended as `extend_from_slice` would,
        /// whatever its length and the room left after what came before.
        #[test]
        fn a_piece_is_appended_as_extend_from_slice_would(
            before in proptest::collection::vec(any::<u8>(), 0..64),
            room in 0usize..80,
            piece in proptest::collection::vec(any::<u8>(), 0..48),
        ) {
            let mut out = Vec::with_capacity(before.len() + room);
            out.extend_from_slice(&before);
            push_piece(&mut out, &piece);
            let mut expected = before.clone();
            expected.extend_from_slice(&piece);
            prop_assert_eq!(out, expected);
        }
    }
}
