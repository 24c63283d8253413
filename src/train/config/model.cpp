// The `model:` section.
#include "ltcl/train/config.h"
#include "ltcl/models/network.h"
#include "sections.h"

namespace ltcl::train::config_sections {

void add_model_keys(ConfigSchema& s) {
  using Str = std::string;
  s.add(make_key<Str>(
      "model.arch",
      LTCL_CONFIG_FIELD(Str, model.arch),
      "Backbone.",
      {},
      {"resnet20",
       "resnet32",
       "resnet44",
       "resnet56",
       "resnet50",
       "resnet152",
       "resnext50_32x4d"}));
  s.add(make_key<Str>(
      "model.pretrained",
      LTCL_CONFIG_FIELD(Str, model.pretrained),
      "Backbone weights to start from: a PyTorch state dict in torchvision's "
      "ResNet names (torch.save(model.state_dict(), path); fc ignored). "
      "Empty: none."));
  s.add(make_key<int64_t>(
      "model.in_channels",
      LTCL_CONFIG_FIELD(int64_t, model.in_channels),
      "Input channels (0: from the dataset; 1 or 3).",
      Check<int64_t>([](const int64_t& v, const Config&) {
        return (v == 0 || v == 1 || v == 3)
            ? std::string()
            : fmt::format("must be 0, 1 or 3, got {}", v);
      })));
  s.add(make_key<Str>(
      "model.init",
      LTCL_CONFIG_FIELD(Str, model.init),
      "Initialisation: ldam (Kaiming-normal weights of every conv and "
      "linear layer, projection head and head_fc included; BN 1 / 0: the "
      "LDAM-DRW scheme on the whole model), ldam_backbone (the same for the "
      "CIFAR ResNet and the linear classifier only; the heads keep "
      "PyTorch's default) or pytorch (every layer's default). ResNet-50 / "
      "ResNeXt-50 keep torchvision's.",
      {},
      {"ldam", "ldam_backbone", "pytorch"}));
  s.add(make_key<Str>(
      "model.classifier",
      LTCL_CONFIG_FIELD(Str, model.classifier),
      "Classifier on the backbone feature (cosine = NormedLinear).",
      {},
      {"linear", "cosine"}));
  s.add(make_key<double>(
      "model.cosine_scale",
      LTCL_CONFIG_FIELD(double, model.cosine_scale),
      "Scale of the cosine classifier.",
      positive()));
  s.add(make_key<Str>(
      "model.adjust",
      LTCL_CONFIG_FIELD(Str, model.adjust),
      "Evaluation-time logit transform (METHODS.md section 8), applied by "
      "every evaluation, ltcl eval, ltcl predict and the exported model; "
      "training logits are unchanged. posthoc_la: logits - log(pi^tau + "
      "1e-12), pi the training class frequencies (Menon et al.); tau_norm: "
      "logits = x . w_c / ||w_c||^tau (Kang et al.; linear classifier "
      "only); ncm: -||x^ - c_k||^2 to the class centroids of the centred, "
      "normalised training features (set by ltcl adjust --adjust ncm on a "
      "trained checkpoint, not for training); none.",
      {},
      models::adjust_names()));
  s.add(make_key<double>(
      "model.adjust_tau",
      LTCL_CONFIG_FIELD(double, model.adjust_tau),
      "tau of model.adjust (posthoc_la, tau_norm). 0: posthoc_la shifts "
      "every class alike, tau_norm uses the rows as they are.",
      in_range(0.0, 100.0, false)));
  s.add(make_key<bool>(
      "model.tau_norm_bias",
      LTCL_CONFIG_FIELD(bool, model.tau_norm_bias),
      "tau_norm keeps the classifier's bias (BagofTricks-LT's CIFAR "
      "figures); false drops it (the official classifier-balancing code)."));
  s.add(make_key<bool>(
      "model.class_scale",
      LTCL_CONFIG_FIELD(bool, model.class_scale),
      "LWS (Kang et al.): a learned per-class scale s_c (init 1) of the "
      "classifier's logits, s_c * (w_c . f + b_c), in training and "
      "evaluation; trained on a stage 1's backbone and classifier with "
      "model.freeze backbone_classifier."));
  s.add(make_key<Str>(
      "model.init_from",
      LTCL_CONFIG_FIELD(Str, model.init_from),
      "A stage 2: an ltcl checkpoint (best.pt / last.pt of another run) "
      "whose model.init_from_parts are copied into the new model before "
      "training; every name and shape is checked before anything is "
      "copied, and metrics.json records the file and its CRC-32. Empty: "
      "none."));
  s.add(make_key<Str>(
      "model.init_from_parts",
      LTCL_CONFIG_FIELD(Str, model.init_from_parts),
      "What model.init_from copies: backbone, backbone_classifier or all "
      "(every tensor of the new model, the method's modules included).",
      {},
      {"backbone", "backbone_classifier", "all"}));
  s.add(make_key<Str>(
      "model.freeze",
      LTCL_CONFIG_FIELD(Str, model.freeze),
      "backbone: the backbone's parameters get no gradient and stay out of "
      "the optimizer (cRT: only the heads train; backward stops at them); "
      "backbone_classifier: the classifier's weight and bias too (LWS: only "
      "model.class_scale and any head train); none.",
      {},
      {"none", "backbone", "backbone_classifier"}));
  s.add(make_key<bool>(
      "model.freeze_bn",
      LTCL_CONFIG_FIELD(bool, model.freeze_bn),
      "With model.freeze: keep the backbone in eval mode, so its "
      "BatchNorm statistics do not move either (false: they follow the "
      "stage-2 batches, as the official cRT code)."));
  s.add_rule([](const Config& c, const ConfigReport& report) {
    if (c.model.freeze == "backbone" && c.model.init_from.empty() &&
        c.model.pretrained.empty()) {
      report(
          "model.freeze",
          "model.freeze backbone needs a trained backbone: set "
          "model.init_from (an ltcl checkpoint, e.g. a CE stage 1's "
          "best.pt) or model.pretrained");
    }
    if (c.model.freeze == "backbone_classifier" &&
        (c.model.init_from.empty() ||
         c.model.init_from_parts == "backbone")) {
      report(
          "model.freeze",
          "model.freeze backbone_classifier needs a trained backbone and "
          "classifier: set model.init_from (an ltcl checkpoint) with "
          "model.init_from_parts backbone_classifier");
    }
  });
  s.add_rule([](const Config& c, const ConfigReport& report) {
    if (c.model.class_scale && c.model.adjust == "tau_norm") {
      report(
          "model.class_scale",
          "model.class_scale (LWS) with model.adjust tau_norm: tau_norm "
          "replaces the classifier's rows; choose one");
    }
  });
  s.add_rule([](const Config& c, const ConfigReport& report) {
    if (!c.model.init_from.empty() && !c.model.pretrained.empty()) {
      report(
          "model.init_from",
          "model.init_from and model.pretrained both set: choose one "
          "starting point");
    }
  });
  s.add_rule([](const Config& c, const ConfigReport& report) {
    if (c.model.adjust == "tau_norm" && c.model.classifier != "linear") {
      report(
          "model.adjust",
          "tau_norm needs model.classifier linear (a cosine classifier's "
          "rows are normalised already)");
    }
  });
  s.add(make_key<int64_t>(
      "model.proj_hidden",
      LTCL_CONFIG_FIELD(int64_t, model.proj_hidden),
      "Hidden width of the projection head (and head_fc).",
      int_range(1, kMaxWidth)));
  s.add(make_key<int64_t>(
      "model.proj_dim",
      LTCL_CONFIG_FIELD(int64_t, model.proj_dim),
      "Output width of the projection head (embedding size).",
      int_range(1, kMaxWidth)));
}

}  // namespace ltcl::train::config_sections
