//! One part of a page (a chunk of elements, a bucket of its index), the
//! page's own until a share takes it.
//!
//! A [`Part`] starts [`Part::Own`]: a write reaches it with one test of
//! its tag and nothing else (no reference count to check). Sharing the
//! board ([`crate::Pages::share`], for a full sync or a snapshot) turns
//! every part into [`Part::Shared`], an `Arc` that a clone of the page
//! then holds too. The first write to a shared part takes it back as the
//! page's own: without a copy if no one else holds it any more (the full
//! sync was sent, the snapshot stored), else by copying this one part.
//! So the reference count is looked at once per part per share, never per
//! write.

use std::sync::Arc;

/// A part of a page: its own, or shared with clones of the page.
#[derive(Clone, Debug)]
pub(crate) enum Part<T> {
    /// Only this page holds it.
    Own(T),
    /// A share took it; clones of the page may hold it too.
    Shared(Arc<T>),
}

impl<T: Clone + Default> Part<T> {
    /// Reads the part.
    #[inline]
    pub(crate) fn get(&self) -> &T {
        match self {
            Part::Own(t) => t,
            Part::Shared(t) => t,
        }
    }

    /// Writes the part, first making it this page's own if it is shared.
    #[inline]
    pub(crate) fn to_mut(&mut self) -> &mut T {
        if let Part::Shared(_) = self {
            self.take_back();
        }
        match self {
            Part::Own(t) => t,
            // Not reached: `take_back` left it the page's own.
            Part::Shared(t) => Arc::make_mut(t),
        }
    }

    /// Makes a shared part this page's own: takes it out of its `Arc` if
    /// no one else holds it, else copies it.
    #[cold]
    #[inline(never)]
    fn take_back(&mut self) {
        // `T::default()` is an empty, unallocated placeholder for the
        // moment the `Arc` is taken out.
        if let Part::Shared(shared) = std::mem::replace(self, Part::Own(T::default())) {
            *self = Part::Own(Arc::unwrap_or_clone(shared));
        }
    }

    /// Makes the part shareable: a clone of it then copies a pointer.
    pub(crate) fn share(&mut self) {
        if let Part::Own(own) = self {
            let own = std::mem::take(own);
            *self = Part::Shared(Arc::new(own));
        }
    }

    /// Whether `self` and `other` are one shared part.
    #[cfg(test)]
    pub(crate) fn same(&self, other: &Part<T>) -> bool {
        match (self, other) {
            (Part::Shared(a), Part::Shared(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_part_is_taken_back_without_a_copy_once_no_one_else_holds_it() {
        let mut part = Part::Own(vec![1, 2, 3]);
        part.to_mut().push(4);
        part.share();
        let clone = part.clone();
        assert!(part.same(&clone));

        // Held twice: the write copies, the clone keeps what it had.
        part.to_mut().push(5);
        assert!(matches!(part, Part::Own(_)));
        assert_eq!(part.get(), &[1, 2, 3, 4, 5]);
        assert_eq!(clone.get(), &[1, 2, 3, 4]);

        // Held once: the write takes the very allocation back.
        part.share();
        let before = part.get().as_ptr();
        assert_eq!(part.to_mut().as_ptr(), before, "no copy");
        part.to_mut().push(6);
        assert_eq!(part.get(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(clone.get(), &[1, 2, 3, 4]);
    }
}
