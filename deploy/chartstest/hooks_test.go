package chartstest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestMigrationHooks: each service whose chart runs migrations gets one hook Job before
// install and upgrade (after install where its database is the in-chart one), deleted
// when it succeeds and bounded in time, running the service's image with `migrate`.
func TestMigrationHooks(t *testing.T) {
	root := repoRoot(t)
	noted := map[string]bool{}
	for _, r := range allRenderings(t) {
		t.Run(r.Case.Name, func(t *testing.T) {
			for _, o := range r.byKind("Job") {
				var j batchv1.Job
				mustDecode(t, o, &j)
				if j.Spec.Template.Labels["app.kubernetes.io/component"] != "migration" {
					continue // TestDevDatabasesHook
				}
				svc := j.Spec.Template.Labels["app.kubernetes.io/name"]
				ann := j.Annotations
				if o.Hook == "" || !strings.Contains(ann["helm.sh/hook"], "pre-upgrade") {
					t.Errorf("%s: not a pre-upgrade hook (%q)", o, ann["helm.sh/hook"])
				}
				dev := r.value("devStores.enabled", false) == true && r.value("devStores.postgres.enabled", false) == true
				if dev && strings.Contains(ann["helm.sh/hook"], "pre-install") {
					t.Errorf("%s: pre-install, but the in-chart PostgreSQL only exists after install", o)
				}
				if !dev && !strings.Contains(ann["helm.sh/hook"], "pre-install") {
					t.Errorf("%s: not pre-install: the first release would start without migrations", o)
				}
				if !strings.Contains(ann["helm.sh/hook-delete-policy"], "before-hook-creation") {
					t.Errorf("%s: an old Job would block the next upgrade (hook-delete-policy)", o)
				}
				if j.Spec.ActiveDeadlineSeconds == nil {
					t.Errorf("%s: no activeDeadlineSeconds", o)
				}
				if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
					t.Errorf("%s: restartPolicy %s", o, j.Spec.Template.Spec.RestartPolicy)
				}
				c := j.Spec.Template.Spec.Containers[0]
				if len(c.Args) == 0 || c.Args[0] != "migrate" {
					t.Errorf("%s: args %v, want [migrate]", o, c.Args)
				}
				if !hasMigrateCommand(root, svc) && !noted[svc] {
					noted[svc] = true
					t.Errorf("services/%s/main.go has no `migrate` command: this Job would run the server until activeDeadlineSeconds", svc)
				}
			}
		})
	}
}

func hasMigrateCommand(root, svc string) bool {
	b, err := os.ReadFile(filepath.Join(root, "services", svc, "main.go"))
	return err == nil && regexp.MustCompile(`"migrate"`).Match(b)
}

// TestHelmTestHook: the release has one `helm test` Pod that enters through the public
// entry; it signs in with the dev inbox when there is one, and uploads an image and
// creates a post when the files and posts services are enabled or tests.createPost says
// so — reaching the in-chart S3 store the way presigned URLs name it.
func TestHelmTestHook(t *testing.T) {
	for _, r := range allRenderings(t) {
		if !r.Case.Umbrella {
			continue
		}
		t.Run(r.Case.Name, func(t *testing.T) {
			var pods []corev1.Pod
			for _, o := range r.byKind("Pod") {
				if o.Hook != "test" {
					t.Errorf("%s: a Pod that is not a test hook", o)
				}
				var p corev1.Pod
				mustDecode(t, o, &p)
				pods = append(pods, p)
			}
			if len(pods) != 1 {
				t.Fatalf("%d test Pods, want 1", len(pods))
			}
			env := plainEnv(pods[0].Spec.Containers[0])
			script := strings.Join(pods[0].Spec.Containers[0].Args, "\n")
			apiGW := r.value("apiGateway.enabled", false) == true
			if apiGW && !strings.HasPrefix(env["BASE_URL"], "http://"+r.value("global.consul.apiGatewayName", "").(string)+":") {
				t.Errorf("BASE_URL %q: a client enters through the API gateway", env["BASE_URL"])
			}
			mail := r.value("devStores.enabled", false) == true && r.value("devStores.mailpit.enabled", false) == true
			if mail != (env["INBOX_URL"] != "") {
				t.Errorf("INBOX_URL %q with the dev inbox %v", env["INBOX_URL"], mail)
			}
			content := r.value("files.enabled", false) == true && r.value("posts.enabled", false) == true
			wantPost := mail && (r.value("tests.createPost", false) == true || content)
			if (env["CREATE_POST"] == "true") != wantPost {
				t.Errorf("CREATE_POST %q, want %v", env["CREATE_POST"], wantPost)
			}
			devS3 := r.value("devStores.enabled", false) == true && r.value("devStores.s3.enabled", false) == true
			if devS3 != (env["S3_CONNECT_TO"] == "instant-s3:7070") {
				t.Errorf("S3_CONNECT_TO %q with the dev S3 store %v", env["S3_CONNECT_TO"], devS3)
			}
			for _, step := range []string{"/health", "/auth/request-code", "/api/v1/search", "/auth/verify-code", "/auth/me",
				"POST CREATION", "/api/files/upload-url", "--connect-to", "/api/posts", "/api/files/download-url"} {
				if !strings.Contains(script, step) {
					t.Errorf("the test script lacks %s", step)
				}
			}
		})
	}
}

// TestNotes: NOTES.txt tells how to reach the gateway and the inbox, and how to watch
// the load generator when it runs.
func TestNotes(t *testing.T) {
	for _, r := range allRenderings(t) {
		if !r.Case.Umbrella {
			continue
		}
		t.Run(r.Case.Name, func(t *testing.T) {
			for _, want := range []string{"port-forward svc/gateway", "helm test", "/auth/request-code"} {
				if !strings.Contains(r.Notes, want) {
					t.Errorf("NOTES.txt lacks %q:\n%s", want, r.Notes)
				}
			}
			if r.value("devStores.enabled", false) == true && !strings.Contains(r.Notes, "/api/v1/search") {
				t.Error("NOTES.txt does not say how to read codes from the dev inbox")
			}
			switch lg, shown := r.value("loadgen.enabled", false) == true, strings.Contains(r.Notes, "logs -f deploy/instant-loadgen"); {
			case lg && !shown:
				t.Error("NOTES.txt does not say how to watch the load generator")
			case !lg && shown:
				t.Error("NOTES.txt shows the load generator, which is off")
			}
		})
	}
}
