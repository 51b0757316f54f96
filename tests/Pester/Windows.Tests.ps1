# Windows guests on two phony Windows images (WindowsImages.ps1: one MBR, one GPT, NTFS,
# hives filled with hivexregedit), compared with virt-inspector (libguestfs-tools, the
# reference; test-only) on the same images. Launches: virt-inspector once on both
# images, one GuestFs session on both (the 64-bit one mounted), virt-cat once on the GPT image.
BeforeDiscovery {
    . $PSScriptRoot/TestSupport.ps1
}

Describe 'Windows guests: inspection and applications, compared with virt-inspector' -Tag 'Windows' {
    BeforeAll {
        . $PSScriptRoot/TestSupport.ps1
        . $PSScriptRoot/GuestImages.ps1
        . $PSScriptRoot/WindowsImages.ps1
        $script:images = Get-GuestFsWindowsImages

        # The reference: virt-inspector once on both images (read-only): two Windows systems.
        $env:LIBGUESTFS_BACKEND = 'direct'
        if (-not $env:LIBGUESTFS_BACKEND_SETTINGS) { $env:LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg' }
        $xml = & virt-inspector --format=raw -a $images.Mbr -a $images.Gpt 2>$null | Out-String
        if ($LASTEXITCODE -ne 0) { throw "virt-inspector failed with exit code $LASTEXITCODE" }
        $script:reference = @(([xml]$xml).operatingsystems.operatingsystem)

        # Ours: both images in one read-only session, the 64-bit system mounted.
        $script:disk = Open-GuestDisk -Path $images.Mbr, $images.Gpt -Inspect -Root /dev/sdb1
        $script:systems = @(Get-GuestOSInfo -IncludeApplications)

        function Get-Ref([string] $Root) { $reference | Where-Object { $_.root -eq $Root } }
        function Text($node, $name) { $v = $node.$name; if ($null -eq $v) { '' } elseif ($v -is [Xml.XmlElement]) { $v.InnerText } else { "$v" } }
    }
    AfterAll { Close-GuestDisk -All }

    It 'virt-inspector and GuestFs both find the two Windows systems' {
        @($reference.root | Sort-Object) | Should -Be @('/dev/sda1', '/dev/sdb1')
        $systems.Root | Should -Be @('/dev/sda1', '/dev/sdb1')
        $systems.Type | Should -Be @('windows', 'windows')
    }

    It 'reports every field virt-inspector reports for <_>' -ForEach @('/dev/sda1', '/dev/sdb1') {
        $os = $systems | Where-Object Root -eq $_
        $ref = Get-Ref $_
        $ref | Should -Not -BeNullOrEmpty
        $os.Type | Should -Be $ref.name
        $os.Distro | Should -Be $ref.distro
        $os.ProductName | Should -Be $ref.product_name
        $os.ProductVariant | Should -Be $ref.product_variant
        $os.MajorVersion | Should -Be ([int]$ref.major_version)
        $os.MinorVersion | Should -Be ([int]$ref.minor_version)
        $os.Architecture | Should -Be $ref.arch
        $os.Hostname | Should -Be $ref.hostname
        $os.PackageFormat | Should -Be (Text $ref 'package_format' | ForEach-Object { if ($_) { $_ } else { 'unknown' } })
        $os.PackageManagement | Should -Be (Text $ref 'package_management' | ForEach-Object { if ($_) { $_ } else { 'unknown' } })
        $os.OSInfo | Should -Be $ref.osinfo
        $refMounts = @($ref.mountpoints.mountpoint | ForEach-Object { "$($_.'#text')=$($_.dev)" } | Sort-Object)
        @($os.Mountpoints | ForEach-Object { "$($_.MountPoint)=$($_.Device)" } | Sort-Object) | Should -Be $refMounts
        @($os.Filesystems | Sort-Object) | Should -Be @($ref.filesystems.filesystem.dev | Sort-Object)
        $refDrives = @($ref.drive_mappings.drive_mapping | ForEach-Object { "$($_.name)=$($_.'#text')" } | Sort-Object)
        $refDrives.Count | Should -BeGreaterThan 1
        @($os.DriveMappings | ForEach-Object { "$($_.Letter)=$($_.Device)" } | Sort-Object) | Should -Be $refDrives
    }

    It 'reads the facts the images were built with (MBR: Windows 7, 32-bit; GPT: Server 2019, 64-bit)' {
        $w7, $w19 = $systems
        $w7.ProductName | Should -Be 'Windows 7 Professional'
        $w7.Architecture | Should -Be 'i386' -Because 'its cmd.exe is PE32'
        "$($w7.MajorVersion).$($w7.MinorVersion)" | Should -Be '6.1' -Because 'CurrentVersion is the fallback'
        $w7.OSInfo | Should -Be 'win7'
        $w7.Hostname | Should -Be 'GFS-WIN7'
        "$($w7.DriveMappings['C']) $($w7.DriveMappings['D'])" | Should -Be '/dev/sda1 /dev/sda2' -Because 'MBR blobs map by disk signature and byte offset'
        $w19.ProductName | Should -Be 'Windows Server 2019 Datacenter'
        $w19.ProductVariant | Should -Be 'Server'
        $w19.Architecture | Should -Be 'x86_64' -Because 'its cmd.exe is PE32+'
        "$($w19.MajorVersion).$($w19.MinorVersion)" | Should -Be '10.0'
        $w19.OSInfo | Should -Be 'win2k19'
        $w19.Hostname | Should -Be 'GFS-WIN2019' -Because 'Select\Current picks ControlSet001, not ControlSet002'
        "$($w19.DriveMappings['C']) $($w19.DriveMappings['E'])" | Should -Be '/dev/sdb1 /dev/sdb2' -Because 'DMIO:ID: blobs map by GPT partition GUID'
        $w19.DriveMappings.ContainsKey('Q') | Should -BeFalse -Because 'no partition has that GUID'
        ($w7 | ConvertTo-Csv | ConvertFrom-Csv).DriveMappings | Should -Be 'C:=/dev/sda1; D:=/dev/sda2' -Because 'drive mappings travel as the text users read'
    }

    It 'lists the applications virt-inspector lists for <_>, field by field, in the same order' -ForEach @('/dev/sda1', '/dev/sdb1') {
        $os = $systems | Where-Object Root -eq $_
        $refApps = @((Get-Ref $_).applications.application)
        $refApps.Count | Should -BeGreaterThan 0
        $os.Applications.Count | Should -Be $refApps.Count
        for ($i = 0; $i -lt $refApps.Count; $i++) {
            $r = $refApps[$i]; $a = $os.Applications[$i]
            $a.Name | Should -Be (Text $r 'name')
            $a.DisplayName | Should -Be (Text $r 'display_name') -Because $a.Name
            $a.Version | Should -Be (Text $r 'version') -Because $a.Name
            $a.InstallPath | Should -Be (Text $r 'install_path') -Because $a.Name
            $a.Publisher | Should -Be (Text $r 'publisher') -Because $a.Name
            $a.Url | Should -Be (Text $r 'url') -Because $a.Name
            $a.Description | Should -Be (Text $r 'description') -Because $a.Name
        }
    }

    It 'takes both Uninstall keys, skips keys without DisplayName and sorts by key name as strcmp does' {
        $apps = $systems[1].Applications
        $apps.Name | Should -Be @('Legacy32', 'Zeta Tool', 'apple-utils', '{6F1A2B3C-0000-4000-8000-00000000E001}')
        ($apps | Where-Object Name -eq 'Legacy32').InstallPath | Should -Be 'C:\Program Files (x86)\Legacy' -Because 'an ExpandString is a string too'
        ($apps | Where-Object Name -eq 'apple-utils').Version | Should -Be '' -Because 'a DWord DisplayVersion is no string'
        $apps.Name | Should -Not -Contain 'KB4000001'
        $editor = $apps | Where-Object Name -like '{*'
        $editor.DisplayName | Should -Be 'Example Editor 2.1'
        $editor.Url | Should -Be 'https://editor.example.com/'
        $editor.Description | Should -Be 'A text editor for tests'
    }

    It 'inspect_list_applications2 gives the same list through Invoke-GuestFsApi' {
        $apps = @(Invoke-GuestFsApi inspect_list_applications2 -root /dev/sdb1)
        # The library call returns libguestfs's application2 structs, with the same content Get-GuestOSInfo shows.
        $apps.Count | Should -Be 4
        $apps.App2Name | Should -Be $systems[1].Applications.Name
        $apps.App2DisplayName | Should -Be $systems[1].Applications.DisplayName
        $apps.App2Publisher | Should -Be $systems[1].Applications.Publisher
    }

    Context 'C:\ paths, compared with virt-cat' {
        BeforeAll {
            # The reference: virt-cat once on the GPT image, two files in odd case (it resolves them as NTFS would).
            $script:catPaths = @('C:\WINDOWS\system32\DRIVERS\etc\HOSTS', 'c:\users\ALICE\documents\Notes.TXT')
            $out = & virt-cat --format=raw -a $images.Gpt @catPaths 2>$null
            if ($LASTEXITCODE -ne 0) { throw "virt-cat failed with exit code $LASTEXITCODE" }
            $script:virtCat = ($out -join "`n")
        }
        It 'Get-GuestContent reads C:\ paths in any case, as virt-cat does' {
            $ours = @($catPaths | ForEach-Object { Get-GuestContent -Disk $disk -Path $_ }) -join "`n"
            $virtCat | Should -Match 'hosts of GFS-WIN2019'
            $ours | Should -Be $virtCat
        }

        It 'items keep the guest''s own spelling' {
            (Get-GuestItem -Disk $disk 'c:\windows\SYSTEM32\cmd.EXE').FullName | Should -Be '/Windows/System32/cmd.exe'
            (Get-GuestItem -Disk $disk -LiteralPath 'C:/Program Files/example app/readme.txt').FullName | Should -Be '/Program Files/Example App/README.TXT'
            @(Get-GuestChildItem -Disk $disk 'C:\USERS\alice\Documents').Name | Should -Be @('notes.txt')
            (Get-GuestChildItem -Disk $disk 'C:\Windows\System32\config\S*').Name | Should -Contain 'SOFTWARE'
        }

        It 'Copy-GuestItem copies a C:\ path out' {
            Copy-GuestItem -Disk $disk -Path 'c:\windows\system32\drivers\etc\hosts' -Destination $TestDrive
            Get-Content -Raw (Join-Path $TestDrive 'hosts') | Should -BeLike '# hosts of GFS-WIN2019*'
        }

        It 'Test-GuestPath answers for C:\ paths, missing ones too' {
            Test-GuestPath -Disk $disk 'C:\windows\system32' | Should -BeTrue
            Test-GuestPath -Disk $disk 'C:\' | Should -BeTrue
            Test-GuestPath -Disk $disk 'C:\no such dir\x.txt' | Should -BeFalse
        }

        It 'a letter the guest does not have is WindowsDriveNotFound, naming its drives' {
            { Get-GuestContent -Disk $disk 'Z:\x.txt' -ErrorAction Stop } | Should -Throw -ErrorId 'WindowsDriveNotFound,GuestFs.PowerShell.Commands.GetGuestContentCommand'
            try { Get-GuestContent -Disk $disk 'Z:\x.txt' -ErrorAction Stop } catch { $_.Exception.Message | Should -Match 'C:, E:' }
        }

        It 'a letter whose partition is not mounted is WindowsDriveNotMounted; once mounted it resolves there' {
            { Get-GuestContent -Disk $disk 'E:\Data\report.txt' -ErrorAction Stop } | Should -Throw -ErrorId 'WindowsDriveNotMounted,GuestFs.PowerShell.Commands.GetGuestContentCommand'
            Mount-GuestFs -Disk $disk -Device /dev/sdb2 -MountPoint '/Users/Alice/Documents' -ReadOnly
            try { Get-GuestContent -Disk $disk 'e:\DATA\Report.txt' | Should -Be 'quarterly report' }
            finally { Dismount-GuestFs -Disk $disk -MountPoint '/Users/Alice/Documents' }
        }

        It 'Open-GuestDisk -Inspect -PSDrive makes every letter a GuestFs drive that reads as virt-cat does, in any case, with the guest''s spelling' {
            $lettered = Open-GuestDisk -Path $images.Gpt -Format raw -Inspect -PSDrive -PSDrivePrefix gfs -WarningVariable w -WarningAction SilentlyContinue
            try {
                $w | Should -BeNullOrEmpty
                (Get-PSDrive gfsC).Provider.Name | Should -Be 'GuestFs'
                (Get-PSDrive gfsE).Provider.Name | Should -Be 'GuestFs'
                $ours = @($catPaths | ForEach-Object { Get-Content -LiteralPath ('gfs' + $_) }) -join "`n"
                $ours | Should -Be $virtCat
                # E: is not mounted by -Inspect alone (virt-cat cannot read it either): here it has a drive of its own.
                Get-Content 'gfsE:\DATA\Report.txt' | Should -Be 'quarterly report'
                Get-GuestContent -Disk $lettered 'e:\data\REPORT.txt' | Should -Be 'quarterly report'
                # Every letter on a directory of its own: C: on /C, E: on /E, nothing of the guest's changed.
                @(Get-GuestMount -Disk $lettered | ForEach-Object MountPoint | Sort-Object) | Should -Be @('/C', '/E')
                (Get-Item 'gfsC:\windows\SYSTEM32\cmd.EXE').FullName | Should -Be '/C/Windows/System32/cmd.exe'
                Push-Location 'gfsC:\WINDOWS\system32'
                try { (Get-ChildItem 'CMD.exe').Name | Should -Be 'cmd.exe' }
                finally { Pop-Location }
                Test-Path 'gfsC:\no such dir\x.txt' | Should -BeFalse
                # The registry follows the system drive to /C.
                New-PSDrive -Name gfsHKS -PSProvider GuestRegistry -Root 'HKLM\SYSTEM' -Disk $lettered | Out-Null
                try { @(Get-ChildItem gfsHKS:\).Count | Should -BeGreaterThan 0 }
                finally { Remove-PSDrive gfsHKS }
                # Applications still come from the SOFTWARE hive, and the letters are mounted again afterwards.
                @((Get-GuestOSInfo -Disk $lettered -IncludeApplications).Applications).Count | Should -BeGreaterThan 0
                @(Get-GuestMount -Disk $lettered | ForEach-Object MountPoint | Sort-Object) | Should -Be @('/C', '/E')
            }
            finally {
                Close-GuestDisk -Disk $lettered
                Get-PSDrive gfs* -ErrorAction SilentlyContinue | Remove-PSDrive -ErrorAction SilentlyContinue
            }
        }

        It 'a disk not opened with -Inspect refuses C:\ paths with NotAWindowsDisk' {
            $plain = Open-GuestDisk -Path $images.Gpt
            try {
                Mount-GuestFs -Disk $plain -Device /dev/sda1 -MountPoint / -ReadOnly
                { Get-GuestContent -Disk $plain 'C:\Windows\System32\drivers\etc\hosts' -ErrorAction Stop } | Should -Throw -ErrorId 'NotAWindowsDisk,GuestFs.PowerShell.Commands.GetGuestContentCommand'
            }
            finally { Close-GuestDisk -Disk $plain }
        }
    }
}

Describe 'about_GuestFs_Windows' -Tag 'Windows' {
    BeforeAll { . $PSScriptRoot/TestSupport.ps1 }

    It 'explains applications, C:\ paths and their errors' {
        $about = Get-Help about_GuestFs_Windows | Out-String
        $about | Should -Match 'INSTALLED APPLICATIONS'
        $about | Should -Match 'WOW6432Node'
        $about | Should -Match 'C:\\ PATHS'
        foreach ($id in 'NotAWindowsDisk', 'WindowsDriveNotFound', 'WindowsDriveNotMounted') { $about | Should -Match $id }
    }
}
