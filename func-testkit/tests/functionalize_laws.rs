//! The functionalize law (outputs and input mutations are the same with and
//! without functionalize, and its graph is free of views and in-place
//! writes) for every catalogue op, on the reference and the CPU backends.

#[test]
fn functionalize_law_holds_on_the_reference_backend() {
    func_testkit::check_functionalize::<func_testkit::RefBackend>(8);
}

#[test]
fn functionalize_law_holds_on_the_cpu_backend() {
    func_testkit::check_functionalize::<func_cpu::Cpu>(8);
}
