#pragma once
// Whether the losses check the values of their inputs.
//
// Every loss checks shapes and dtypes (host metadata, free) and, by default,
// the values of its labels and class counts (labels in [0, C), counts > 0):
// each of those reads a tensor back to the host, which on a GPU is a stall
// of the step. A caller that has validated its inputs once (the trainer:
// labels at data open, the class counts at build, the first step in full)
// turns the value checks off for a scope:
//
//   { ltcl::losses::TrustedInputs trust;  // this thread, this scope
//     loss = losses::functional::contrastive_loss(...); }
namespace ltcl::losses {

class TrustedInputs {
 public:
  TrustedInputs();
  ~TrustedInputs();
  TrustedInputs(const TrustedInputs&) = delete;
  TrustedInputs& operator=(const TrustedInputs&) = delete;

 private:
  bool previous_;
};

// True inside a TrustedInputs scope of this thread.
bool inputs_trusted();

}  // namespace ltcl::losses
