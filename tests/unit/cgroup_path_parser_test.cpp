// cgroup path -> container: a table of paths as real runtimes create them, in
// their cgroup v1 (per-controller) and v2 (unified) forms.
#include "containers/cgroup_path_parser.h"

#include <gtest/gtest.h>

using tracer::containers::container_from_cgroup_path;
using tracer::containers::ContainerRef;
using tracer::containers::ContainerRuntime;

namespace {

const std::string kId = "3f1c9b2e8d7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e";
const std::string kPod = "8dd3c6b1-5c9e-4b7a-9f0e-2a1b3c4d5e6f";
const std::string kPodEscaped = "8dd3c6b1_5c9e_4b7a_9f0e_2a1b3c4d5e6f";

struct Case {
    std::string path;
    std::optional<ContainerRef> want;
};

class CgroupPathParser : public ::testing::TestWithParam<Case> {};

TEST_P(CgroupPathParser, NamesTheContainer) {
    const auto& c = GetParam();
    auto got = container_from_cgroup_path(c.path);
    ASSERT_EQ(got.has_value(), c.want.has_value()) << c.path;
    if (!got) return;
    EXPECT_EQ(got->runtime, c.want->runtime) << c.path;
    EXPECT_EQ(got->id, c.want->id) << c.path;
    EXPECT_EQ(got->pod_uid, c.want->pod_uid) << c.path;
}

using R = ContainerRuntime;

INSTANTIATE_TEST_SUITE_P(
    RealWorldPaths, CgroupPathParser,
    ::testing::Values(
        // Docker, cgroupfs driver: v1 (/sys/fs/cgroup/memory/docker/<id>) and v2 alike
        Case{"/docker/" + kId, ContainerRef{R::Docker, kId, ""}},
        Case{"/docker/" + kId + "/init.scope", ContainerRef{R::Docker, kId, ""}},  // systemd inside
        // Docker, systemd driver
        Case{"/system.slice/docker-" + kId + ".scope", ContainerRef{R::Docker, kId, ""}},
        // docker-in-docker: the innermost container
        Case{"/docker/" + std::string(64, 'a') + "/docker/" + kId, ContainerRef{R::Docker, kId, ""}},
        // Kubernetes, cgroupfs driver (v1 and v2 share the layout), qos classes
        Case{"/kubepods/burstable/pod" + kPod + "/" + kId, ContainerRef{R::Kubernetes, kId, kPod}},
        Case{"/kubepods/besteffort/pod" + kPod + "/" + kId, ContainerRef{R::Kubernetes, kId, kPod}},
        Case{"/kubepods/pod" + kPod + "/" + kId, ContainerRef{R::Kubernetes, kId, kPod}},  // guaranteed
        Case{"/kubepods.slice/kubepods-pod" + kPodEscaped + ".slice/" + kId,
             ContainerRef{R::Kubernetes, kId, kPod}},
        // Kubernetes, systemd driver, per runtime
        Case{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kPodEscaped +
                 ".slice/cri-containerd-" + kId + ".scope",
             ContainerRef{R::Containerd, kId, kPod}},
        Case{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kPodEscaped + ".slice/crio-" +
                 kId + ".scope",
             ContainerRef{R::Crio, kId, kPod}},
        Case{"/kubepods.slice/kubepods-pod" + kPodEscaped + ".slice/docker-" + kId + ".scope",
             ContainerRef{R::Docker, kId, kPod}},
        // kind / nested: kubelet inside a container
        Case{"/docker/" + std::string(64, 'b') + "/kubelet/kubepods/burstable/pod" + kPod + "/" + kId,
             ContainerRef{R::Kubernetes, kId, kPod}},
        // CRI-O without Kubernetes slices, and its conmon (not a container)
        Case{"/machine.slice/crio-" + kId + ".scope", ContainerRef{R::Crio, kId, ""}},
        Case{"/machine.slice/crio-conmon-" + kId + ".scope", std::nullopt},
        // podman: cgroupfs (libpod_parent) and systemd; conmon is not the container
        Case{"/libpod_parent/libpod-" + kId, ContainerRef{R::Podman, kId, ""}},
        Case{"/libpod_parent/libpod-" + kId + "/ctr", ContainerRef{R::Podman, kId, ""}},
        Case{"/machine.slice/libpod-" + kId + ".scope", ContainerRef{R::Podman, kId, ""}},
        Case{"/machine.slice/libpod-" + kId + ".scope/container", ContainerRef{R::Podman, kId, ""}},
        Case{"/machine.slice/libpod-conmon-" + kId + ".scope", std::nullopt},
        Case{"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId + ".scope",
             ContainerRef{R::Podman, kId, ""}},
        // systemd-nspawn / machined
        Case{"/machine.slice/systemd-nspawn@debian.service", ContainerRef{R::Nspawn, "debian", ""}},
        Case{"/machine.slice/systemd-nspawn@debian.service/payload", ContainerRef{R::Nspawn, "debian", ""}},
        Case{"/machine.slice/machine-qemu\\x2d1\\x2dvm.scope", ContainerRef{R::Nspawn, "qemu\\x2d1\\x2dvm", ""}},
        // not containers: keep their cgroup path only
        Case{"/", std::nullopt}, Case{"/system.slice/ssh.service", std::nullopt},
        Case{"/user.slice/user-0.slice/session-3.scope", std::nullopt},
        Case{"/docker", std::nullopt},                           // the parent itself
        Case{"/docker/" + kId.substr(0, 12), std::nullopt},     // short ids are never cgroup names
        Case{"/docker/" + std::string(64, 'G'), std::nullopt},  // not hex
        Case{"/kubepods/burstable/pod" + kPod, std::nullopt},   // the pod cgroup itself
        Case{"/tracer-test-1234/syscalls", std::nullopt}, Case{"/" + kId, std::nullopt}));

}  // namespace
