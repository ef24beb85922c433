//! The vmap and derivative laws for every catalogue op, on the reference and
//! the CPU backends.

#[test]
fn transform_laws_hold_on_the_reference_backend() {
    func_testkit::check_transforms::<func_testkit::RefBackend>();
}

#[test]
fn transform_laws_hold_on_the_cpu_backend() {
    func_testkit::check_transforms::<func_cpu::Cpu>();
}
