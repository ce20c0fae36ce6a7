fn main() {
    std::process::exit(suture::cli::main());
}
