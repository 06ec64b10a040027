//! `shmkit demo`: the textbook's two programs sharing `MySharedData`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use shmkit::Shared;

/// The textbook's struct (`int Value; char Letter; fixed float Numbers[50]`),
/// with the C# `char` as a `u16` and its padding named.
#[derive(shmkit::Layout, Clone, Copy)]
#[repr(C)]
pub struct MySharedData {
    /// `int Value`
    pub value: i32,
    /// `char Letter`: a UTF-16 code unit, as in C#.
    pub letter: u16,
    /// The two bytes C# pads with, named so that no byte is hidden.
    pub _pad: [u8; 2],
    /// `fixed float Numbers[50]`
    pub numbers: [f32; 50],
}

const _: () = assert!(
    std::mem::size_of::<MySharedData>() == 208,
    "the book's 208 bytes"
);

/// One half of the demo, to run by hand in two terminals.
#[derive(Subcommand)]
pub enum Half {
    /// Create the segment, write value = 123, letter = 'X', numbers[10] = 1.45,
    /// then wait for Enter (when standard input is a terminal) and print what
    /// is there by then.
    Write {
        /// The segment's name.
        name: String,
        /// Keep the segment after exiting (remove it with `shmkit rm NAME`).
        #[arg(long)]
        persist: bool,
    },
    /// Open the segment by name and print its fields.
    Read {
        /// The segment's name.
        name: String,
        /// Then write value = 456, letter = 'Y', numbers[10] = 2.5 back.
        #[arg(long)]
        answer: bool,
    },
}

pub fn run(half: Option<Half>) -> Result<()> {
    match half {
        None => both(),
        Some(Half::Write { name, persist }) => write(&name, persist),
        Some(Half::Read { name, answer }) => read(&name, answer, ""),
    }
}

fn letter(data: &Shared<MySharedData>) -> shmkit::Result<char> {
    let letter = data.letter().get()?;
    Ok(char::from_u32(u32::from(letter)).unwrap_or(char::REPLACEMENT_CHARACTER))
}

fn show(data: &Shared<MySharedData>, who: &str) -> shmkit::Result<()> {
    println!("{who}Value is {}", data.value().get()?);
    println!("{who}Letter is {}", letter(data)?);
    println!("{who}11th Number is {}", data.numbers().at(10).get()?);
    Ok(())
}

fn create(name: &str, persist: bool) -> Result<Shared<MySharedData>> {
    let data = Shared::<MySharedData>::options()
        .persist(persist)
        .create(name)
        .with_context(|| format!("creating segment `{name}`"))?;
    // The textbook's three lines.
    data.value().set(123)?;
    data.letter().set(u16::from(b'X'))?;
    data.numbers().at(10).set(1.45)?;
    Ok(data)
}

fn write(name: &str, persist: bool) -> Result<()> {
    let data = create(name, persist)?;
    println!("Written to shared memory `{name}` (208 bytes of MySharedData)");
    if std::io::stdin().is_terminal() {
        println!("Run `shmkit demo read {name}` in another terminal, then press Enter here.");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    show(&data, "")?;
    Ok(())
}

fn read(name: &str, answer: bool, who: &str) -> Result<()> {
    let data =
        Shared::<MySharedData>::open(name).with_context(|| format!("opening segment `{name}`"))?;
    println!("{who}opened `{name}` by name (pid {})", std::process::id());
    show(&data, who)?;
    if answer {
        data.value().set(456)?;
        data.letter().set(u16::from(b'Y'))?;
        data.numbers().at(10).set(2.5)?;
        println!("{who}wrote Value = 456, Letter = Y, 11th Number = 2.5");
    }
    Ok(())
}

/// Both halves: this process writes, a second process (this same program,
/// `demo read --answer`) reads and answers, then this one reads the answer.
fn both() -> Result<()> {
    let name = format!("MyShare-{}", std::process::id());
    let data = create(&name, false)?;
    println!(
        "first:  created `{name}` (pid {}) and wrote Value = 123, Letter = X, 11th Number = 1.45",
        std::process::id()
    );
    let exe =
        std::env::current_exe().context("finding this program to start the second process")?;
    let mut child = Command::new(exe)
        .args(["demo", "read", "--answer", &name])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the second process")?;
    let out = child
        .stdout
        .take()
        .context("no stdout from the second process")?;
    for line in std::io::BufReader::new(out).lines() {
        println!("second: {}", line?);
    }
    if !child.wait()?.success() {
        bail!("the second process failed");
    }
    std::io::stdout().flush()?;
    println!("first:  now sees:");
    show(&data, "first:  ")?;
    Ok(())
}
