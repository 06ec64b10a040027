//! The textbook's typed scenario, for library users: a first process maps
//! `MySharedData` into a named segment and writes `Value = 123`; a second
//! process (this program again) opens it by name, checked against the same
//! struct, reads it and answers.
//!
//! ```text
//! cargo run --release -p shmkit --example textbook
//! ```

use std::process::Command;

/// `int Value; char Letter; fixed float Numbers[50]`: 208 bytes.
#[derive(shmkit::Layout)]
#[repr(C)]
struct MySharedData {
    value: i32,
    letter: u16,
    _pad: [u8; 2],
    numbers: [f32; 50],
}

const _: () = assert!(std::mem::size_of::<MySharedData>() == 208);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, name] = args.as_slice() {
        if role == "second" {
            let data = shmkit::Shared::<MySharedData>::open(name)?;
            let value = data.value().get()?;
            assert_eq!(value, 123, "the first process's write is visible here");
            println!("second: Value is {value}");
            println!(
                "second: Letter is {}",
                char::from(data.letter().get()? as u8)
            );
            println!("second: 11th Number is {}", data.numbers().at(10).get()?);
            data.value().set(456)?;
            return Ok(());
        }
    }

    let name = format!("MyShare-{}", std::process::id());
    // The name lives as long as `data`: this program stays alive until the
    // second has run. Had it exited first, the second would get `NotFound`;
    // `Shared::options().persist(true)` keeps the name past its creator.
    let data = shmkit::Shared::<MySharedData>::create(&name)?;
    data.value().set(123)?;
    data.letter().set(u16::from(b'X'))?;
    data.numbers().at(10).set(1.45)?;
    println!("first:  written to shared memory");

    let status = Command::new(std::env::current_exe()?)
        .args(["second", &name])
        .status()?;
    if !status.success() {
        return Err("the second process failed".into());
    }
    let value = data.value().get()?;
    assert_eq!(value, 456, "the second process's write is visible here");
    println!("first:  Value is now {value}");
    Ok(())
}
