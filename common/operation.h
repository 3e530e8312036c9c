// Operation: a handle to asynchronous work in flight. Destroying it cancels the work, and its
// completion callback is then never called.

#ifndef TASK_BASTION_COMMON_OPERATION_H_
#define TASK_BASTION_COMMON_OPERATION_H_

namespace tb {

class Operation {
 public:
  virtual ~Operation() = default;
};

}  // namespace tb

#endif  // TASK_BASTION_COMMON_OPERATION_H_
