#ifndef AGENTLOG_SRC_FUNCTION_REF_H_
#define AGENTLOG_SRC_FUNCTION_REF_H_

#include <functional>
#include <type_traits>
#include <utility>

namespace agentlog::internal {

template <typename Signature>
class FunctionRef;

// A non-owning reference to a callable, in the spirit of absl::FunctionRef:
// unlike std::function it never allocates, which matters on the append path
// where every call passes a lambda capturing several locals.
//
// REQUIRES: the callable outlives the FunctionRef (pass it as a parameter,
// never store it).
template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  template <typename F, typename = std::enable_if_t<
                            std::is_invocable_r_v<R, F&, Args...> &&
                            !std::is_same_v<std::decay_t<F>, FunctionRef>>>
  FunctionRef(F&& f)  // NOLINT: implicit by design, like a function pointer
      : object_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* object, Args... args) -> R {
          return std::invoke(*static_cast<std::remove_reference_t<F>*>(object),
                             std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const {
    return call_(object_, std::forward<Args>(args)...);
  }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_FUNCTION_REF_H_
