use std::time::Instant;
fn main() {
    let n = 50;
    let t = Instant::now();
    for _ in 0..n { std::process::Command::new("/bin/true").status().unwrap(); }
    let plain = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
    let t = Instant::now();
    for _ in 0..n { let s = suture::repro::sandbox::Spec::new(vec!["/bin/true".into()], "/tmp"); suture::repro::sandbox::run(&s, &mut |_, _| {}); }
    let sb = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
    let t = Instant::now();
    for _ in 0..n { let mut s = suture::repro::sandbox::Spec::new(vec!["/bin/true".into()], "/tmp"); s.network = true; suture::repro::sandbox::run(&s, &mut |_, _| {}); }
    let sbnet = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
    println!("plain {plain:.2} ms, sandbox {sb:.2} ms, sandbox without netns {sbnet:.2} ms");
}
