//! `#[derive(Layout)]` for shmkit. Use it as `#[derive(shmkit::Layout)]`; see
//! the `shmkit` crate for what it checks and generates.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{parse_macro_input, Data, DeriveInput, Error, Fields, Ident};

/// Implements `shmkit::Layout` for a `#[repr(C)]` struct with named fields,
/// and generates its field accessors, reached as `<X as Layout>::Fields<B>`.
///
/// Every generated item lives inside an anonymous `const _: () = { ... };`
/// block, so none of its names can collide with or shadow the user's: the
/// accessor type and its handle parameter have `__Shmkit` names that only the
/// expansion's own code sees. It binds no local variables, because a `let`
/// would turn into a pattern match against any user constant of the same
/// name (hygiene does not cover items). Names starting with `__Shmkit` are
/// reserved for the macro.
///
/// Checked at compile time:
/// - `#[repr(C)]` is present and `packed` is not;
/// - every field's type is `shmkit::Layout` (so no pointers, references,
///   `bool`, `char`, enums, `usize` or `isize`);
/// - the struct has no padding;
/// - it is at most `u32::MAX` bytes, the most a layout description records
///   (a larger size would be truncated, and a peer would check the wrong
///   layout);
/// - every field's offset is a multiple of its alignment on 64-bit targets,
///   and the size a multiple of the struct's: where `u64` is only 4-aligned
///   (i686), a struct that would have padding on x86_64 has none, so it would
///   pass the padding check with a different layout. Together these make the
///   layout the same on every target, or the struct compile on none.
///
/// `#[shmkit(in_place)]` also implements `shmkit::InPlace`, for structs made
/// only of atomics, which may be borrowed in place.
///
/// # Generated accessors
/// For each field `f` of type `F` the derive generates a method `f()`, with
/// the field's own visibility, on the struct's accessor type. A
/// `shmkit::Shared<S>`, a `shmkit::ReadOnlyShared<S>` and a
/// `shmkit::layout::Ref<S>` reach those methods by `Deref`, and each returns
/// a `shmkit::layout::Ref<F>` for the field, which in turn reaches `F`'s own
/// accessors. So a path through the struct reads as it would in C:
///
/// | field type `F`            | `data.f()` gives a `Ref<F>` with                     |
/// |---------------------------|------------------------------------------------------|
/// | a primitive (`u32`, `f64`)| `.get()` and `.set(v)`: one atomic copy each         |
/// | an array `[T; N]`         | `.at(i)` (panics past `N`), `.try_at(i)`, `.len()`; `.get()`/`.set()` for the whole array of a `Copy` `T` |
/// | a derived struct          | its fields' methods (`data.pos().x().set(1.0)`); `.get()`/`.set()` for the whole struct if it is `Copy` |
/// | an atomic (`AtomicU32`)   | `.load(order)` through any handle; `.in_place()` (a `&AtomicU32`) through a writable one |
/// | a `shmkit::sync` type     | `.in_place()` (the `Mutex`, `Event` or `SeqLock` itself) through a writable handle; `.read()` of a `SeqLock`, `.is_signalled()` of an `Event` through any |
///
/// A `Ref` copies in and out and never hands out a reference into bytes a
/// peer may write, except to atomics and the sync types. Reached through a
/// `ReadOnlyShared`, a `Ref` has no `set` at all: writing through a
/// read-only handle does not compile. An example of each row, run as a
/// doctest of the `shmkit` crate, heads this macro's page in `shmkit`'s
/// documentation.
#[proc_macro_derive(Layout, attributes(shmkit))]
pub fn derive_layout(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let name = &input.ident;
    let vis = &input.vis;
    if !input.generics.params.is_empty() {
        return Err(Error::new(
            input.generics.span(),
            "#[derive(shmkit::Layout)] does not support generic structs: \
             give the shared struct concrete field types",
        ));
    }
    check_repr(input)?;
    let in_place = parse_in_place(input)?;
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => named.named.iter().collect::<Vec<_>>(),
            _ => {
                return Err(Error::new(
                    input.ident.span(),
                    "#[derive(shmkit::Layout)] needs named fields, so that the layout \
                     can name them",
                ))
            }
        },
        _ => {
            return Err(Error::new(
                input.ident.span(),
                "#[derive(shmkit::Layout)] works on structs only: enums and unions can \
                 hold invalid bit patterns when a peer writes them",
            ))
        }
    };
    let types: Vec<_> = fields.iter().map(|f| &f.ty).collect();
    // The name as the user wrote it, without `r#`: a layout description is
    // compared with other programs', which know no raw identifiers.
    let plain_name = name.unraw().to_string();
    // Distinct from the struct's own name, and visible only inside the block.
    let fields_name = format_ident!("__Shmkit{}Fields", plain_name);
    let base = Ident::new("__ShmkitBase", Span::call_site());

    let accessors = fields.iter().map(|f| {
        let ident = f.ident.as_ref().unwrap();
        let plain = ident.unraw();
        let ty = &f.ty;
        let fvis = &f.vis;
        let doc = format!("Field `{plain}` of [`{plain_name}`], in shared memory.");
        quote! {
            #[doc = #doc]
            #[inline]
            #fvis fn #ident(&self) -> ::shmkit::layout::Ref<'_, #ty, <#base as ::shmkit::layout::Base>::Access> {
                // SAFETY: the offset is that of field `#ident`, of type `#ty`,
                // in the `#name` at the base's address.
                unsafe {
                    ::shmkit::layout::field::<#base, #ty>(
                        &self.0,
                        ::shmkit::layout::__private::offset_of!(#name, #ident),
                    )
                }
            }
        }
    });

    // Spanned at each field's type, so that an unfit type is reported there.
    let describes = fields.iter().map(|f| {
        let ident = f.ident.as_ref().unwrap();
        let plain = ident.unraw().to_string();
        let ty = &f.ty;
        quote_spanned! {ty.span()=>
            ::shmkit::layout::Field {
                name: #plain.into(),
                offset: ::shmkit::layout::__private::offset_of!(#name, #ident) as u32,
                ty: <#ty as ::shmkit::Layout>::describe(),
            }
        }
    });

    let size_msg = format!(
        "`{plain_name}` is larger than 4 GiB (u32::MAX bytes), the most a shmkit layout \
         description records: split it into several smaller structs or segments"
    );
    // No padding: each field starts where the previous one ends, and the
    // last ends at the struct's size. A failure names the gap's place and
    // size and the field that fills it (built in constant context). The
    // locals carry `__shmkit` names: a user's constant of a plain name
    // (`end`) in scope would turn a `let` of that name into a pattern.
    let mut prev = String::new();
    let padding_checks: Vec<_> = fields
        .iter()
        .enumerate()
        .map(|(index, f)| {
            let ident = f.ident.as_ref().unwrap();
            let ty = &f.ty;
            let field = ident.unraw().to_string();
            let prev_name = std::mem::replace(&mut prev, field.clone());
            quote_spanned! {ty.span()=>
                let __shmkit_offset = ::shmkit::layout::__private::offset_of!(#name, #ident);
                if let ::core::option::Option::Some(__shmkit_msg) =
                    ::shmkit::layout::__private::gap_before(
                        #plain_name, #prev_name, #field, #index, __shmkit_end, __shmkit_offset,
                    )
                {
                    ::core::panic!("{}", __shmkit_msg.as_str());
                }
                let __shmkit_end = __shmkit_offset + ::shmkit::layout::__private::size_of::<#ty>();
            }
        })
        .collect();
    let last = fields
        .iter()
        .last()
        .map(|f| f.ident.as_ref().unwrap().unraw().to_string())
        .unwrap_or_default();
    let last_index = fields.len().saturating_sub(1);

    // Checked against each field's `ALIGN` (its alignment where primitives
    // are aligned to their size), not its `align_of` on this target.
    let align_checks = fields.iter().map(|f| {
        let ident = f.ident.as_ref().unwrap();
        let plain = ident.unraw();
        let ty = &f.ty;
        let msg = format!(
            "field `{plain}` of `{plain_name}` is not at a multiple of its alignment on 64-bit \
             targets: 32-bit and 64-bit processes would lay `{plain_name}` out differently (a \
             `u64` is only 4-aligned on i686). Add an explicit padding field before it, or \
             order fields from largest to smallest alignment"
        );
        quote_spanned! {ty.span()=>
            ::core::assert!(
                ::shmkit::layout::__private::aligned(
                    ::shmkit::layout::__private::offset_of!(#name, #ident),
                    <#ty as ::shmkit::Layout>::ALIGN,
                ),
                #msg
            );
        }
    });
    let tail_msg = format!(
        "the size of `{plain_name}` is not a multiple of its alignment on 64-bit targets, so it \
         has tail padding there but not on 32-bit ones (a `u64` is only 4-aligned on i686): \
         add an explicit padding field at the end"
    );

    // The struct's own `align_of` (its `repr(align)`) folded with every
    // field's `ALIGN`, as nested calls rather than `let`s (see above).
    let align_expr = types.iter().fold(
        quote! { ::shmkit::layout::__private::align_of::<#name>() },
        |acc, ty| {
            quote! {
                ::shmkit::layout::__private::max(#acc, <#ty as ::shmkit::Layout>::ALIGN)
            }
        },
    );

    let in_place_impl = in_place.then(|| {
        let checks = types.iter().map(|ty| {
            quote_spanned! {ty.span()=> __shmkit_in_place::<#ty>(); }
        });
        quote! {
            // SAFETY: every field is `InPlace` (checked below), so every byte
            // of the struct is only accessed atomically.
            unsafe impl ::shmkit::InPlace for #name {}
            const _: fn() = || {
                fn __shmkit_in_place<__ShmkitT: ::shmkit::InPlace>() {}
                #(#checks)*
            };
        }
    });

    let fields_doc = format!(
        "Field accessors of [`{plain_name}`] in shared memory, reached through `Deref` from a \
         `shmkit::Shared<{plain_name}>`, a `shmkit::ReadOnlyShared<{plain_name}>` or a \
         `shmkit::layout::Ref<{plain_name}>`; a field reached through a read-only handle only \
         reads."
    );
    Ok(quote! {
        const _: () = {
            #[doc = #fields_doc]
            #[repr(transparent)]
            #vis struct #fields_name<#base>(#base);

            impl<#base: ::shmkit::layout::Base> #fields_name<#base> {
                #(#accessors)*
            }

            // SAFETY:
            // - every field is `Layout` (the `describe` calls below do not
            //   compile otherwise), so every bit pattern of each field is valid;
            // - the struct is `repr(C)` and not packed, and the assertion below
            //   proves it has no padding, so its bytes are exactly its fields';
            // - the same on every target: `repr(C)` places each field at the
            //   first multiple of its `align_of` after the previous one; the
            //   assertions below prove every offset (and the size) is a
            //   multiple of the field's (the struct's) `ALIGN`, which every
            //   target's `align_of` divides, so no target inserts padding;
            // - `ALIGN` is the largest of the fields' `ALIGN`s and the struct's
            //   own `align_of` (its `repr(align)`), a power of two at least
            //   `align_of::<Self>()`, and `describe` reports it;
            // - the description is built from `offset_of!`/`size_of`, and the
            //   assertion below proves the size (so every offset) fits the
            //   `u32`s it is recorded in, so it is truthful;
            // - the generated accessor struct is `repr(transparent)` over its
            //   handle.
            unsafe impl ::shmkit::Layout for #name {
                type Fields<#base> = #fields_name<#base>;

                fn describe() -> ::shmkit::layout::Ty {
                    ::shmkit::layout::Ty::Struct(::shmkit::layout::StructTy {
                        name: #plain_name.into(),
                        size: ::shmkit::layout::__private::size_of::<#name>() as u32,
                        align: <Self as ::shmkit::Layout>::ALIGN as u32,
                        fields: <::std::vec::Vec<::shmkit::layout::Field>>::from(
                            [#(#describes),*],
                        ),
                    })
                }

                const ALIGN: usize = #align_expr;
            }

            ::core::assert!(
                ::shmkit::layout::__private::size_of::<#name>()
                    <= ::core::primitive::u32::MAX as usize,
                #size_msg
            );

            const _: () = {
                let __shmkit_end = 0usize;
                #(#padding_checks)*
                if let ::core::option::Option::Some(__shmkit_msg) =
                    ::shmkit::layout::__private::gap_after(
                        #plain_name, #last, #last_index, __shmkit_end,
                        ::shmkit::layout::__private::size_of::<#name>(),
                    )
                {
                    ::core::panic!("{}", __shmkit_msg.as_str());
                }
            };

            #(#align_checks)*
            ::core::assert!(
                ::shmkit::layout::__private::aligned(
                    ::shmkit::layout::__private::size_of::<#name>(),
                    <#name as ::shmkit::Layout>::ALIGN,
                ),
                #tail_msg
            );

            #in_place_impl
        };
    })
}

fn check_repr(input: &DeriveInput) -> syn::Result<()> {
    let mut has_c = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("C") {
                has_c = true;
            } else if meta.path.is_ident("packed") {
                return Err(meta.error(
                    "#[repr(packed)] makes fields unaligned, and shared memory needs aligned \
                     atomic access: use explicit padding fields instead",
                ));
            } else if meta.path.is_ident("align") {
                // `align(N)` is fine; skip its argument.
                let _ = meta.input.parse::<proc_macro2::Group>();
            } else {
                return Err(meta.error("only #[repr(C)] and #[repr(C, align(N))] are supported"));
            }
            Ok(())
        })?;
    }
    if !has_c {
        return Err(Error::new(
            Span::call_site(),
            "#[derive(shmkit::Layout)] needs #[repr(C)]: Rust's default layout may reorder \
             fields differently in two programs",
        ));
    }
    Ok(())
}

fn parse_in_place(input: &DeriveInput) -> syn::Result<bool> {
    let mut in_place = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("shmkit")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("in_place") {
                in_place = true;
                Ok(())
            } else {
                Err(meta.error("unknown shmkit option; the one option is `in_place`"))
            }
        })?;
    }
    Ok(in_place)
}
