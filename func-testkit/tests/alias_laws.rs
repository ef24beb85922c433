//! The aliasing law (values and input mutations are the same with and
//! without vmap, grad and jvp) for every view op, on the reference and the
//! CPU backends.

#[test]
fn aliasing_law_holds_on_the_reference_backend() {
    func_testkit::check_aliasing::<func_testkit::RefBackend>(16);
}

#[test]
fn aliasing_law_holds_on_the_cpu_backend() {
    func_testkit::check_aliasing::<func_cpu::Cpu>(16);
}
